from __future__ import annotations

import pytest
import torch

from minituner.grammar import (
    IRREGULAR,
    PAD,
    TENSES,
    conjugate,
    conjugate_regular,
    decode,
    encode,
    encode_batch,
    made_up_verbs,
    make_splits,
)


@pytest.mark.parametrize(
    ("verb", "forms"),
    [
        (
            "hablar",
            "hablo hablas habla hablé hablaste habló hablaba hablabas hablaba "
            "hablaré hablarás hablará hablaría hablarías hablaría",
        ),
        (
            "comer",
            "como comes come comí comiste comió comía comías comía "
            "comeré comerás comerá comería comerías comería",
        ),
        (
            "vivir",
            "vivo vives vive viví viviste vivió vivía vivías vivía "
            "viviré vivirás vivirá viviría vivirías viviría",
        ),
    ],
)
def test_regular_tables(verb: str, forms: str) -> None:
    got = [conjugate(verb, t, p) for t in TENSES for p in "123"]
    assert got == forms.split()


def test_one_syllable_forms_take_no_accent() -> None:
    assert [conjugate_regular("ser", "T", p) for p in "123"] == ["si", "siste", "sio"]


def test_irregular_cells_are_120_and_differ_from_the_rule() -> None:
    cells = [(v, t, p) for v in IRREGULAR for t in TENSES for p in "123"]
    assert len(cells) == 120
    assert conjugate("tener", "P", "1") == "tengo" and conjugate_regular("tener", "P", "1") == "teno"
    exceptions = sum(conjugate(*c) != conjugate_regular(*c) for c in cells)
    assert exceptions == 86  # the other 34 cells (seré, tenía, ...) follow the rule


def test_bad_infinitive_is_named() -> None:
    with pytest.raises(ValueError, match="'tenor'"):
        conjugate_regular("tenor", "P", "1")


def test_splits_are_deterministic_and_disjoint_by_verb() -> None:
    a, b = make_splits(), make_splits()
    assert a == b
    train_verbs = {e.verb for e in a.train}
    heldout_verbs = {e.verb for e in a.heldout}
    assert len(heldout_verbs) == 100 and not train_verbs & heldout_verbs
    assert not (train_verbs | heldout_verbs) & set(IRREGULAR)
    assert len(a.irregular) == 120


def test_made_up_verbs_look_spanish() -> None:
    verbs = made_up_verbs(500, seed=1)
    assert all(v.endswith(("ar", "er", "ir")) for v in verbs)
    assert any(len(v) <= 4 for v in verbs)  # short ones, like ser
    assert not any(v[-3] in "aeiou" for v in verbs)  # no vowel hiatus (punoar)
    assert not any(v[-3] == "z" for v in verbs if not v.endswith("ar"))  # -zer is not Spanish


@pytest.mark.parametrize(
    ("verb", "tense", "person", "form"),
    [
        ("buscar", "T", "1", "busqué"),
        ("pagar", "T", "1", "pagué"),
        ("cruzar", "T", "1", "crucé"),
        ("vencer", "P", "1", "venzo"),
        ("coger", "P", "1", "cojo"),
        ("coger", "P", "2", "coges"),
        ("hacer", "P", "1", "hazo"),  # what the rule (and the base model) would say
    ],
)
def test_spelling_keeps_the_sound(verb: str, tense: str, person: str, form: str) -> None:
    assert conjugate_regular(verb, tense, person) == form


def test_encode_decode_roundtrip() -> None:
    text = "tener P1=tengo."
    assert decode(encode(text)) == text


def test_unknown_character_is_named() -> None:
    with pytest.raises(ValueError, match="'X'"):
        encode("Xer P1=")


def test_encode_batch_puts_loss_only_on_the_answer() -> None:
    ex = make_splits().irregular[0]  # ser P1=soy.
    x, y = encode_batch([ex])
    n_prompt = len(ex.prompt)
    assert (y[0, : n_prompt - 1] == -100).all()
    assert decode(y[0, n_prompt - 1 :].tolist()) == "soy."
    assert x.shape == y.shape and x.dtype == torch.long and PAD == 0
