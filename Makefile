# Every target creates and fills .venv on first use (pinned versions), then reuses it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: site test lab check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

site: $(STAMP)  ## build and serve the bilingual site on 127.0.0.1:8000
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(STAMP)  ## lint, type-check and run the whole suite
	$(BIN)/ruff check src tests
	$(BIN)/mypy --strict src/minituner
	$(BIN)/pytest -n 2

lab: $(STAMP)  ## JupyterLab on the notebooks
	$(BIN)/jupyter lab --ip 127.0.0.1 notebooks/

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
