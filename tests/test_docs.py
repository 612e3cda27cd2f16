"""The course pages: English/Spanish parity, the glossary, and every number recomputed from code."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from torch import nn

from minituner import lora as reference
from minituner.course import breaks
from minituner.course.workspace import EXERCISES
from minituner.figures import FIGURES
from minituner.grammar import IRREGULAR, REAL_REGULAR, make_splits
from minituner.lora import lora_parameter_count, wrap_minigpt_with_lora
from minituner.model import MiniGPT

sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
import mkdocs_break_diffs as break_diffs  # noqa: E402

ROOT = Path(__file__).parent.parent
FOLDERS = ["theory", "lab", "break", "solutions", "docs"]
ENGLISH = sorted(
    p
    for folder in FOLDERS
    for p in (ROOT / folder).glob("*.md")
    if not p.name.endswith(".es.md") and not (ROOT / folder).is_symlink()
)


def twin(path: Path) -> Path:
    return path.with_name(path.name[: -len(".md")] + ".es.md")


FENCE = re.compile(r"^([ \t]*)```.*?^\1```", re.S | re.M)  # also fences inside lists and admonitions


def code_blocks(text: str) -> list[str]:
    return [m.group(0) for m in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The words a reader reads: no code, no math, no link targets."""
    text = FENCE.sub(" ", text)
    text = re.sub(r"\\\[.*?\\\]|\\\(.*?\\\)", " ", text, flags=re.S)  # math
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # keep a link's text, drop its target
    return text


def headings(text: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in FENCE.sub("", text).splitlines() if re.match(r"#{1,6} ", line)]


def links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)", FENCE.sub("", text))


def admonitions(text: str) -> list[str]:
    return re.findall(r"^\s*(!!!|\?\?\?\+?) (\w+)", text, re.M)


NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.,])\d+(?:\.\d+)?%")


def numbers(text: str) -> list[str]:
    return sorted(NUMBER.findall(prose(text)))


def test_every_page_has_a_spanish_twin() -> None:
    assert len(ENGLISH) >= 12
    missing = [str(p.relative_to(ROOT)) for p in ENGLISH if not twin(p).is_file()]
    assert not missing, missing
    orphans = [
        str(p.relative_to(ROOT))
        for folder in FOLDERS
        for p in (ROOT / folder).glob("*.es.md")
        if not p.with_name(p.name.replace(".es.md", ".md")).is_file()
    ]
    assert not orphans, orphans


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: str(p.relative_to(ROOT)))
def test_twins_match(path: Path) -> None:
    en, es = path.read_text(), twin(path).read_text()
    assert headings(en) == headings(es), "headings differ in number or level"
    assert code_blocks(en) == code_blocks(es), "code blocks must be byte-identical"
    assert links(en) == links(es), "link targets differ"
    assert admonitions(en) == admonitions(es), "admonitions differ"
    assert numbers(en) == numbers(es), "numbers differ"


ENGLISH_WORDS = {"the", "and", "of", "to", "is", "that", "with", "this", "are", "for"}
SPANISH_WORDS = {"el", "la", "de", "que", "y", "en", "los", "las", "una", "para", "con", "es", "por"}


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: str(p.relative_to(ROOT)))
def test_spanish_is_spanish(path: Path) -> None:
    words = re.findall(r"[a-záéíóúñü]+", prose(twin(path).read_text()).lower())
    spanish = sum(w in SPANISH_WORDS for w in words)
    english = sum(w in ENGLISH_WORDS for w in words)
    assert spanish > 5 * max(english, 1), f"{spanish} Spanish vs {english} English stop words"


def glossary() -> list[tuple[str, list[str], list[str]]]:
    rows = []
    for line in (ROOT / "docs" / "glossary.md").read_text().splitlines()[4:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("English", "---"):
            split = [[t.strip() for t in c.split(",") if t.strip()] for c in cells[1:]]
            rows.append((cells[0], split[0], split[1]))
    return rows


def spanish_pattern(term: str) -> str:
    """'valor singular' also matches 'valores singulares'; 'predicción' matches 'predicciones'."""
    return r"\s+".join(re.escape(w[: max(4, len(w) - 2)]) + r"\w*" for w in term.split())


def test_glossary_pages_agree() -> None:
    assert len(glossary()) >= 30
    en_rows = (ROOT / "docs/glossary.md").read_text().split("| English |", 1)[1]
    es_rows = (ROOT / "docs/glossary.es.md").read_text().split("| English |", 1)[1]
    assert en_rows == es_rows


@pytest.mark.parametrize(
    "path", [p for p in ENGLISH if p.name != "glossary.md"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_spanish_follows_the_glossary(path: Path) -> None:
    en, es = prose(path.read_text()).lower(), prose(twin(path).read_text()).lower()
    problems = []
    for english, spanish, avoid in glossary():
        for word in avoid:
            if re.search(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", es):
                problems.append(f"uses {word!r} (glossary: {', '.join(spanish)})")
        if re.search(rf"(?<![\w-]){re.escape(english.lower())}(s|es)?(?![\w])", en):
            if not any(re.search(spanish_pattern(s.lower()), es) for s in spanish):
                problems.append(f"English says {english!r} but Spanish never says {' / '.join(spanish)!r}")
    assert not problems, problems


# --- every number a page claims is recomputed from the code ---------------------------------------


def _percent(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def computed_numbers() -> set[str]:
    model = MiniGPT()
    total = sum(p.numel() for p in model.parameters())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    weights = sum(m.weight.numel() for m in linears)
    biases = sum(m.bias.numel() for m in linears if m.bias is not None)
    block = model.blocks[0]
    block_params = sum(p.numel() for p in block.parameters())
    block_weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Linear))
    counts = {total, weights + biases, weights, model.tok_emb.weight.numel(), block_params, block_weights}
    counts |= {
        sum(p.numel() for p in block.attn.parameters()),
        sum(p.numel() for p in block.mlp.parameters()),
    }
    counts |= {m.weight.numel() for m in linears} | {4 * total}
    pct: set[str] = set()
    for r in (1, 2, 4, 8, 16, 32, 64):
        n = lora_parameter_count(model, r)
        assert n == 2304 * r
        counts |= {n, 2 * n, 4 * n}
        pct |= {_percent(n / total), _percent(n / (weights + biases)), _percent(2 * n / (4 * total))}
    wrapped = wrap_minigpt_with_lora(MiniGPT(), r=8)
    counts.add(sum(p.numel() for p in wrapped.parameters()))
    pct.add(f"{100 * 2304 * 8 / sum(p.numel() for p in wrapped.parameters()):.4f}%")
    counts.add(8 * (64 + 64))  # LoRALinear(Linear(64, 64), r=8)
    pct |= {_percent(8 * 128 / 4096, 0), _percent(18 * 64 * 8 / (12 * 64 * 64)), _percent(2 * 8 / 64)}
    # Generic widths of theory 02: h = 768 and LLaMA-7B (h = 4096, 32 layers, r = 8 on q and v).
    for h in (768, 4096):
        counts |= {h * h, 2 * h * 8, 12 * h * h, 18 * h * 8}
        pct |= {_percent(2 * 8 / h), _percent(1.5 * 8 / h, 4), _percent(2 * 8 / h, 3)}
    llama, qv = 6_738_415_616, 2 * 32 * 8 * (4096 + 4096)
    counts |= {llama, qv, llama + qv, 2 * llama, 8 * llama, 2 * llama * 2 + 8 * llama, 2 * qv, 8 * qv}
    pct |= {f"{100 * qv / (llama + qv):.4f}%", _percent(2 * 8 / 4096)}
    # The task.
    splits = make_splits()
    counts |= {len(splits.train), len(splits.heldout), 6000, len(IRREGULAR) * 15, len(REAL_REGULAR)}
    # What the /break exercises print, with the bug and without: the break pages quote it.
    printed = [
        line
        for b in breaks.CATALOGUE
        for m in (breaks.broken_module(b.id), reference)
        for line in breaks.observe(b.id, m)
    ]
    pct |= set(NUMBER.findall("\n".join(printed)))
    # Trained figures: the reference run's values (figures.toml), quoted with their tolerance.
    pct |= {f.show(f.value) for f in FIGURES.values()}
    return {f"{n:,}" for n in counts} | pct


# Seed 002's accuracy predictions, shown as predictions beside what notebook 02 measures.
SEED_002_PREDICTIONS = {f"{p}%" for p in (60, 70, 75, 85, 88, 93, 92, 95)}


def test_every_number_on_the_pages_is_computed() -> None:
    allowed = computed_numbers() | SEED_002_PREDICTIONS
    unexplained = {}
    for path in ENGLISH:
        for n in numbers(path.read_text()):
            if n not in allowed and not (n.endswith("%") and float(n[:-1]) in (0, 25, 50, 75, 100)):
                unexplained.setdefault(str(path.relative_to(ROOT)), []).append(n)
    assert not unexplained, unexplained


def test_the_pages_carry_the_key_numbers() -> None:
    pages = {p.name: p.read_text() for p in ENGLISH}
    exact = pages["05-lora-on-mini-gpt-exact-count.md"]
    for claim in ("103,680", "98,944", "98,304", "2{,}304\\,r", "18,432", "147,456", "149.03%", "414,720"):
        assert claim in exact, claim
    assert "149.02%" not in "".join(pages.values())  # seed 002's rounding slip
    assert "4,194,304" in pages["02-parameter-count.md"]
    assert "1.5" in pages["02-parameter-count.md"] and "2r/h" in pages["02-parameter-count.md"]


@pytest.mark.parametrize("brk", breaks.CATALOGUE, ids=lambda b: f"{b.id}-{b.slug}")
def test_break_pages_show_the_real_patch(brk: breaks.Break) -> None:
    for page in (ROOT / f"break/{brk.id}-{brk.slug}.md", ROOT / f"break/{brk.id}-{brk.slug}.es.md"):
        text = page.read_text()
        rendered = break_diffs.on_page_markdown(
            text, SimpleNamespace(file=SimpleNamespace(src_uri=f"break/{page.name}"))
        )
        assert f"```diff\n{breaks.diff(brk.id)}```" in rendered, (
            f"{page.name}: the break diff is not the patch"
        )
        assert f"```diff\n{breaks.diff(brk.id, fix=True)}```" in rendered, f"{page.name}: no fix diff"
        assert f"../notebooks/break-{brk.id}-{brk.slug}.ipynb" in text
        assert brk.catching_test in text


TRAINED = re.compile(r"(\d+\.\d%) ± (\d+) (?:points|puntos)")


def test_trained_figures_on_the_pages_are_the_recorded_ones_with_their_tolerance() -> None:
    recorded = {(f.show(f.value), f"{100 * f.tolerance:g}") for f in FIGURES.values()}
    quoted = [
        (str(page.relative_to(ROOT)), m.groups())
        for path in ENGLISH
        for page in (path, twin(path))
        for m in TRAINED.finditer(page.read_text())
    ]
    assert len(quoted) >= 12, "theory 05 quotes the measured rank sweep in both languages"
    wrong = [(page, f"{v} ± {points}") for page, (v, points) in quoted if (v, points) not in recorded]
    assert not wrong, f"not a recorded figure with its tolerance (figures.toml): {wrong}"
    bare = {f.show(f.value) for name, f in FIGURES.items() if not name.startswith("base.")}
    for path in ENGLISH:
        for line in prose(path.read_text()).splitlines():
            loose = [n for n in NUMBER.findall(line) if n in bare and "±" not in line]
            assert not loose, f"{path.name}: a trained figure without its tolerance: {line.strip()}"


@pytest.mark.parametrize("name", EXERCISES)
def test_a_lab_links_its_workbook_and_only_the_solution_links_the_reference(name: str) -> None:
    for suffix in (".md", ".es.md"):
        lab, solution = ((ROOT / f"{kind}/{name}{suffix}").read_text() for kind in ("lab", "solutions"))
        assert f"](../exercises/{name}.ipynb)" in lab and f"../notebooks/{name}.ipynb" not in lab, name
        assert f"](../notebooks/{name}.ipynb)" in solution and "../exercises/" not in solution, name
    assert (ROOT / "docs" / "exercises" / f"{name}.ipynb").is_file()  # the site renders the learner's copy
