"""The course pages: English/Spanish parity, the glossary, and every number recomputed from code."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from torch import nn

from minituner import lora as reference
from minituner.checkpoint import base_path
from minituner.course import breaks
from minituner.course.workspace import EXERCISES
from minituner.figures import FIGURES
from minituner.grammar import IRREGULAR, REAL_REGULAR, conjugate_regular, make_splits
from minituner.lora import lora_parameter_count, wrap_minigpt_with_lora
from minituner.model import MiniGPT
from pages import (
    ENGLISH,
    FENCE,
    FOLDERS,
    GLOSSARY_PAGES,
    ROOT,
    glossary,
    glossary_rows,
    numbers,
    prose,
    stored_output,
    twin,
)

sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
import mkdocs_break_diffs as break_diffs  # noqa: E402


def code_blocks(text: str) -> list[str]:
    return [m.group(0) for m in FENCE.finditer(text)]


def headings(text: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in FENCE.sub("", text).splitlines() if re.match(r"#{1,6} ", line)]


def links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)", FENCE.sub("", text))


def admonitions(text: str) -> list[str]:
    return re.findall(r"^\s*(!!!|\?\?\?\+?) (\w+)", text, re.M)


NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.,])\d+(?:\.\d+)?%")

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
    # Byte-identical code, but for the placeholder of a learner's name: NAME reads NOMBRE in Spanish.
    spanish_code = [block.replace("NOMBRE", "NAME") for block in code_blocks(es)]
    assert code_blocks(en) == spanish_code, "code blocks must be byte-identical"
    assert links(en) == links(es), "link targets differ"
    assert admonitions(en) == admonitions(es), "admonitions differ"
    assert numbers(en) == numbers(es, spanish=True), "numbers differ (as values)"


ENGLISH_WORDS = {"the", "and", "of", "to", "is", "that", "with", "this", "are", "for"}
SPANISH_WORDS = {"el", "la", "de", "que", "y", "en", "los", "las", "una", "para", "con", "es", "por"}


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: str(p.relative_to(ROOT)))
def test_spanish_is_spanish(path: Path) -> None:
    words = re.findall(r"[a-záéíóúñü]+", prose(twin(path).read_text()).lower())
    spanish = sum(w in SPANISH_WORDS for w in words)
    english = sum(w in ENGLISH_WORDS for w in words)
    assert spanish > 5 * max(english, 1), f"{spanish} Spanish vs {english} English stop words"


def spanish_pattern(term: str) -> str:
    """'valor singular' also matches 'valores singulares'; 'predicción' matches 'predicciones'."""
    return r"\s+".join(re.escape(w[: max(4, len(w) - 2)]) + r"\w*" for w in term.split())


def test_glossary_pages_agree() -> None:
    assert len(glossary()) >= 30
    en_rows, es_rows = (glossary_rows(page) for page in GLOSSARY_PAGES)
    assert [row[:3] for row in en_rows] == [row[:3] for row in es_rows], "the terms differ"
    en_head, es_head = (
        (ROOT / page).read_text().split("\n|---|", 1)[0].splitlines()[-1] for page in GLOSSARY_PAGES
    )
    assert en_head.startswith("| English |") and not es_head.startswith("| English |"), es_head
    assert ("seed", ["semilla"], ["seed"]) in glossary(), "semilla is the word for a random seed"


def test_every_glossary_term_has_a_definition_in_both_languages() -> None:
    """The Carpentries' habit: a glossary defines its words, in one or two sentences."""
    en_rows, es_rows = (glossary_rows(page) for page in GLOSSARY_PAGES)
    for en, es in zip(en_rows, es_rows, strict=True):
        assert len(en) == len(es) == 4, f"{en[0]}: term, Spanish, avoid, definition"
        for definition in (en[3], es[3]):
            sentences = re.findall(r"[.!?](?=\s|$)", definition)
            assert definition[:1].isupper() and 1 <= len(sentences) <= 2, f"{en[0]}: {definition!r}"
        words = re.findall(r"\w+", es[3].lower())
        spanish, english = sum(w in SPANISH_WORDS for w in words), sum(w in ENGLISH_WORDS for w in words)
        assert en[3] != es[3] and spanish > english, f"{en[0]}: the Spanish page defines it in English"


ITALIC = re.compile(r"(?<![*\w])\*(?![*\s])(?:[^*\n]|\n(?![ \t]*\n))+(?<![*\s])\*(?![*\w])")


@pytest.mark.parametrize(
    "path", [p for p in ENGLISH if p.name != "glossary.md"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_spanish_follows_the_glossary(path: Path) -> None:
    # Italics are left out, except where the Spanish term is looked for: a paper's title stays in
    # English on both pages, so that it can be found.
    en, es = ITALIC.sub(" ", prose(path.read_text())).lower(), prose(twin(path).read_text()).lower()
    es_outside_titles = ITALIC.sub(" ", prose(twin(path).read_text())).lower()
    problems = []
    for english, spanish, avoid in glossary():
        for word in avoid:
            if re.search(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", es_outside_titles):
                problems.append(f"uses {word!r} (glossary: {', '.join(spanish)})")
        # A term Spanish keeps in English (checkpoint, break) is held by its avoid column: the English
        # word may be used in another sense too (to break), which Spanish translates.
        if spanish != [english] and re.search(rf"(?<![\w-]){re.escape(english.lower())}(s|es)?(?![\w])", en):
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
    pct |= {f"{f.at_most:.0%}" for f in FIGURES.values() if f.at_most is not None}  # a chaotic one's bound
    # Theory 01: mixed-precision AdamW keeps 16 bytes per trainable parameter (fp16 weight 2 +
    # fp16 gradient 2 + fp32 master copy 4 + fp32 m 4 + fp32 v 4; ZeRO, arXiv:1910.02054), and fp32
    # AdamW keeps 16 too (4 + 4 + 4 + 4); frozen weights keep only their value.
    per_param, r8 = 2 + 2 + 4 + 4 + 4, lora_parameter_count(model, 8)
    lora_llama = 2 * llama + per_param * qv
    counts |= {per_param * llama, 4 * llama, lora_llama, 4 * qv, per_param * qv}
    counts |= {per_param * total, per_param * r8, 4 * total + per_param * r8, per_param * (total + r8)}
    pct |= {_percent((4 * total + per_param * r8) / (per_param * total))}
    pct |= {_percent(lora_llama / (per_param * llama)), _percent(2 / per_param, 1)}
    # Theory 02: B of fc1 at r=8 (256 x 8), 12 blocks of width 768, a Mini-GPT of width 128, r=64.
    counts |= {256 * 8, 12 * 18 * 768 * 8, 12 * 12 * 768 * 768, 64 * (64 + 64)}
    pct |= {_percent(1.5 * 8 / 128, 3)}
    # Theory 05: the paper's targets, q_proj and v_proj, on Mini-GPT at r=8.
    pct |= {_percent(lora_parameter_count(model, 8, ["q_proj", "v_proj"]) / total)}
    # Theory 05 and lab 03: the shipped base's file on disk, tensors and header, as notebook 01 prints it.
    counts.add(base_path().stat().st_size)
    return {f"{n:,}" for n in counts} | pct


def quoted_corrections() -> set[str]:
    """Figures the lab pages quote beside their questions: the share of the 120 irregular cells that
    the regular rule spells right (computed from the grammar), lab 02's budget placements (attention
    at r=18, the MLP at r=14, all 12 Linears at r=8), and notebook 02's accuracy per tense at r=8
    with replay (from its stored output)."""
    regular = sum(e.answer == conjugate_regular(e.verb, e.tense, e.person) for e in make_splits().irregular)
    attention, mlp = ["q_proj", "k_proj", "v_proj", "o_proj"], ["fc1", "fc2"]
    placements = ((attention, 18), (mlp, 14), (attention + mlp, 8))
    budget = {lora_parameter_count(MiniGPT(), r, targets) for targets, r in placements}
    per_tense = re.search(r"per tense, r=8 with replay: (\{.*\})", stored_output("02-lora-finetune"))
    assert per_tense, "notebook 02 no longer prints the accuracy per tense"
    return (
        {f"{100 * regular / len(IRREGULAR) / 15:.1f}%"}
        | {f"{n:,}" for n in budget}
        | set(NUMBER.findall(per_tense.group(1)))
    )


def test_every_number_on_the_pages_is_computed() -> None:
    allowed = computed_numbers() | quoted_corrections()
    unexplained = {}
    for path in ENGLISH:
        for n in NUMBER.findall(prose(path.read_text())):
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
        # The break is shown openly; the fix sits in a collapsed block, indented like its marker.
        assert f"\n```diff\n{breaks.diff(brk.id)}```" in rendered, (
            f"{page.name}: the break diff is not the patch, in the open"
        )
        fixed = f"```diff\n{breaks.diff(brk.id, fix=True)}```"
        fix = "".join("    " + line for line in fixed.splitlines(keepends=True))
        assert f"\n{fix}" in rendered, f"{page.name}: no fix diff inside a collapsed block"
        assert f"../notebooks/break-{brk.id}-{brk.slug}.ipynb" in text
        assert brk.catching_test in text


# "96.7% ± 5 points" in English, "96,7 % ± 5 puntos" in Spanish: compared as values.
TRAINED = re.compile(r"(\d+[.,]\d) ?% ± (\d+) (?:points|puntos)")


def test_trained_figures_on_the_pages_are_the_recorded_ones_with_their_tolerance() -> None:
    """A trained figure is quoted with its tolerance, or beside its bound (a chaotic one)."""
    recorded = {(f.show(f.value), f"{100 * f.tolerance:g}") for f in FIGURES.values() if f.tolerance}
    quoted = [
        (str(page.relative_to(ROOT)), (m.group(1).replace(",", ".") + "%", m.group(2)))
        for path in ENGLISH
        for page in (path, twin(path))
        for m in TRAINED.finditer(page.read_text())
    ]
    assert len(quoted) >= 12, "theory 05 quotes the measured rank sweep in both languages"
    wrong = [(page, f"{v} ± {points}") for page, (v, points) in quoted if (v, points) not in recorded]
    assert not wrong, f"not a recorded figure with its tolerance (figures.toml): {wrong}"
    bare = {f.show(f.value) for name, f in FIGURES.items() if not name.startswith("base.")}
    bounded = {f.show(f.value): {f"{f.at_most:.0%}"} for f in FIGURES.values() if f.at_most is not None}
    for path in ENGLISH:
        for page, spanish in ((path, False), (twin(path), True)):
            for line in prose(page.read_text()).splitlines():
                loose = [n for n in numbers(line, spanish) if n in bare and "±" not in line]
                loose = [n for n in loose if not bounded.get(n, set()) & set(numbers(line, spanish))]
                assert not loose, f"{page.name}: a trained figure without its tolerance: {line.strip()}"


@pytest.mark.parametrize("name", EXERCISES)
def test_a_lab_links_its_workbook_and_only_the_solution_links_the_reference(name: str) -> None:
    for suffix in (".md", ".es.md"):
        lab, solution = ((ROOT / f"{kind}/{name}{suffix}").read_text() for kind in ("lab", "solutions"))
        assert f"](../exercises/{name}.ipynb)" in lab and f"../notebooks/{name}.ipynb" not in lab, name
        assert f"](../notebooks/{name}.ipynb)" in solution and "../exercises/" not in solution, name
    assert (ROOT / "docs" / "exercises" / f"{name}.ipynb").is_file()  # the site renders the learner's copy
