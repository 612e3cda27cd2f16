"""The task: a Spanish grammar tutor that conjugates verbs, one character at a time.

A prompt names an infinitive, a tense and a person; the model writes the form and a full stop:
`tener P1=tengo.`  The base model learns the regular rules from regular verbs (real and made-up);
LoRA then teaches it 8 irregular verbs x 5 tenses x 3 persons = 120 cells.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

# One letter per tense, so the prompt stays short.
TENSES = {
    "P": "presente",
    "T": "pretérito indefinido",
    "I": "imperfecto",
    "F": "futuro",
    "C": "condicional",
}
PERSONS = {"1": "yo", "2": "tú", "3": "él/ella"}

# Endings for yo / tú / él, per tense; the futuro and condicional attach to the whole infinitive.
_ENDINGS = {
    "ar": {"P": ("o", "as", "a"), "T": ("é", "aste", "ó"), "I": ("aba", "abas", "aba")},
    "er": {"P": ("o", "es", "e"), "T": ("í", "iste", "ió"), "I": ("ía", "ías", "ía")},
    "ir": {"P": ("o", "es", "e"), "T": ("í", "iste", "ió"), "I": ("ía", "ías", "ía")},
}
_FUTURE = {"F": ("é", "ás", "á"), "C": ("ía", "ías", "ía")}

# Real regular verbs: no stem change (pienso) and no irregular form; some change their spelling to
# keep their sound (busqué, pagué, crucé, venzo, cojo), which is part of the rule.
REAL_REGULAR = """
hablar cantar bailar caminar comprar trabajar estudiar mirar llamar llevar tomar nadar ayudar
escuchar esperar entrar viajar usar lavar cocinar preparar terminar ganar amar dejar pasar
necesitar olvidar gritar saltar bajar cortar pintar firmar formar mandar montar visitar aceptar
arreglar borrar cambiar cenar desear dibujar enseñar fumar limpiar mejorar ocupar odiar patinar
regresar robar tirar tratar alquilar anotar besar callar cuidar durar echar faltar
grabar guardar importar invitar luchar matar notar orar parar quedar quitar
comer beber aprender comprender correr vender temer deber meter romper barrer toser ceder
prender sorprender responder esconder coser lamer ofender depender cometer prometer someter
vivir escribir abrir subir recibir decidir partir compartir cubrir sufrir permitir unir existir
asistir discutir insistir imprimir admitir añadir batir cumplir dividir describir omitir
persuadir resistir residir confundir fundir invadir aplaudir
buscar tocar sacar secar explicar practicar indicar pagar llegar apagar navegar entregar cruzar
avanzar lanzar alcanzar rezar organizar utilizar realizar vencer convencer ejercer esparcir
zurcir fruncir coger escoger recoger proteger dirigir exigir fingir sumergir surgir
""".split()

IRREGULAR: dict[str, dict[str, tuple[str, str, str]]] = {
    "ser": {
        "P": ("soy", "eres", "es"),
        "T": ("fui", "fuiste", "fue"),
        "I": ("era", "eras", "era"),
        "F": ("seré", "serás", "será"),
        "C": ("sería", "serías", "sería"),
    },
    "ir": {
        "P": ("voy", "vas", "va"),
        "T": ("fui", "fuiste", "fue"),
        "I": ("iba", "ibas", "iba"),
        "F": ("iré", "irás", "irá"),
        "C": ("iría", "irías", "iría"),
    },
    "tener": {
        "P": ("tengo", "tienes", "tiene"),
        "T": ("tuve", "tuviste", "tuvo"),
        "I": ("tenía", "tenías", "tenía"),
        "F": ("tendré", "tendrás", "tendrá"),
        "C": ("tendría", "tendrías", "tendría"),
    },
    "hacer": {
        "P": ("hago", "haces", "hace"),
        "T": ("hice", "hiciste", "hizo"),
        "I": ("hacía", "hacías", "hacía"),
        "F": ("haré", "harás", "hará"),
        "C": ("haría", "harías", "haría"),
    },
    "decir": {
        "P": ("digo", "dices", "dice"),
        "T": ("dije", "dijiste", "dijo"),
        "I": ("decía", "decías", "decía"),
        "F": ("diré", "dirás", "dirá"),
        "C": ("diría", "dirías", "diría"),
    },
    "poder": {
        "P": ("puedo", "puedes", "puede"),
        "T": ("pude", "pudiste", "pudo"),
        "I": ("podía", "podías", "podía"),
        "F": ("podré", "podrás", "podrá"),
        "C": ("podría", "podrías", "podría"),
    },
    "poner": {
        "P": ("pongo", "pones", "pone"),
        "T": ("puse", "pusiste", "puso"),
        "I": ("ponía", "ponías", "ponía"),
        "F": ("pondré", "pondrás", "pondrá"),
        "C": ("pondría", "pondrías", "pondría"),
    },
    "venir": {
        "P": ("vengo", "vienes", "viene"),
        "T": ("vine", "viniste", "vino"),
        "I": ("venía", "venías", "venía"),
        "F": ("vendré", "vendrás", "vendrá"),
        "C": ("vendría", "vendrías", "vendría"),
    },
}

# Real verbs that a made-up stem must never produce: irregular, stem-changing or spelled differently.
_NOT_REGULAR = set(IRREGULAR) | set(
    """dar ver estar haber saber caber caer traer oír querer andar valer salir pedir dormir morir
    sentir mentir servir seguir medir reír freír venir tener poner volver mover llover soler oler
    jugar pensar contar probar sonar volar costar mostrar cerrar perder entender querer empezar
    conducir traducir producir leer creer construir huir elegir corregir regir negar regar rogar
    colgar cocer torcer comenzar almorzar forzar tropezar reforzar""".split()
)

# Spanish-looking syllables for made-up stems. A stem ends in a consonant; c, g and z only where
# real regular verbs have them (buscar, pagar, cruzar, vencer, coger), never a vowel (no hiatus).
_ONSETS = "b d f j l ll m n ñ p r s t v y ch br pl tr gr".split()
_VOWELS = list("aeiou")
_CODAS = "b d f l m n p r s t v ch j nt rt nd st".split()
_CODAS_AR = _CODAS + "c g z nc rc ng rg nz rz".split()
_CODAS_ER_IR = _CODAS + "nc rc ng rg".split()

# Spelling keeps the sound of the stem's last consonant (RAE): busqué, pagué, crucé; venzo, cojo.
_SPELLING = {
    "ar": ("é", {"c": "qu", "g": "gu", "z": "c"}),
    "er": ("o", {"c": "z", "g": "j"}),
    "ir": ("o", {"c": "z", "g": "j"}),
}


def conjugate_regular(infinitive: str, tense: str, person: str) -> str:
    """The regular form: what a learner who knows only the rules would write (e.g. *teno)."""
    ending = infinitive[-2:]
    if ending not in _ENDINGS:
        raise ValueError(f"infinitive must end in -ar, -er or -ir, got {infinitive!r}")
    if tense not in TENSES or person not in PERSONS:
        raise ValueError(f"tense must be one of {list(TENSES)} and person one of {list(PERSONS)}")
    i = int(person) - 1
    if tense in _FUTURE:
        return infinitive + _FUTURE[tense][i]
    stem, suffix = infinitive[:-2], _ENDINGS[ending][tense][i]
    before, change = _SPELLING[ending]
    if stem[-1:] in change and suffix.startswith(before):
        stem = stem[:-1] + change[stem[-1]]
    form = stem + suffix
    if not any(v in stem for v in "aeiou"):
        # A one-syllable form takes no written accent (RAE 2010): vi, vio, di, dio.
        form = form.translate(str.maketrans("áéíóú", "aeiou")) if tense == "T" and i != 1 else form
    return form


def conjugate(infinitive: str, tense: str, person: str) -> str:
    """The correct form: the irregular table if the verb is one of the 8, else the rule."""
    if infinitive in IRREGULAR:
        return IRREGULAR[infinitive][tense][int(person) - 1]
    return conjugate_regular(infinitive, tense, person)


@dataclass(frozen=True)
class Example:
    verb: str
    tense: str
    person: str
    answer: str

    @property
    def prompt(self) -> str:
        return f"{self.verb} {self.tense}{self.person}="

    @property
    def text(self) -> str:
        return f"{self.prompt}{self.answer}."


def cells(verbs: list[str]) -> list[Example]:
    """Every (verb, tense, person) cell of the given verbs, with its correct answer."""
    return [Example(v, t, p, conjugate(v, t, p)) for v in verbs for t in TENSES for p in PERSONS]


def made_up_verbs(n: int, seed: int) -> list[str]:
    """`n` invented regular infinitives shaped like Spanish ones, short ones included."""
    rng = random.Random(seed)
    verbs: set[str] = set()
    while len(verbs) < n:
        n_syllables = rng.choice([1, 1, 2, 2, 2, 3])  # one syllable gives short verbs: balar, unir
        first_onset = "" if rng.random() < 0.15 else rng.choice(_ONSETS)
        stem = first_onset + rng.choice(_VOWELS)
        stem += "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n_syllables - 1))
        ending = rng.choice(["ar", "ar", "ar", "er", "ir"])
        stem += rng.choice(_CODAS_AR if ending == "ar" else _CODAS_ER_IR)
        if rng.random() < 0.05:  # a bare consonant stem, for short verbs like ser
            stem = rng.choice(_ONSETS)
        verb = stem + ending
        if verb not in _NOT_REGULAR and verb not in REAL_REGULAR:
            verbs.add(verb)
    return sorted(verbs)


@dataclass(frozen=True)
class Splits:
    train: list[Example]  # regular verbs the base model is trained on
    heldout: list[Example]  # regular verbs it never sees: does it know the rules?
    irregular: list[Example]  # the 120 cells LoRA must learn


def make_splits(
    n_made_up: int = 6000, n_heldout_real: int = 20, n_heldout_made_up: int = 80, seed: int = 0
) -> Splits:
    """Deterministic splits by verb: no held-out verb appears in training, in any form."""
    rng = random.Random(seed)
    real = rng.sample(sorted(REAL_REGULAR), len(REAL_REGULAR))
    made_up = rng.sample(made_up_verbs(n_made_up, seed), n_made_up)
    heldout = real[:n_heldout_real] + made_up[:n_heldout_made_up]
    train = real[n_heldout_real:] + made_up[n_heldout_made_up:]
    return Splits(
        train=cells(sorted(train)),
        heldout=cells(sorted(heldout)),
        irregular=cells(list(IRREGULAR)),
    )


# --- Tokenizer: one id per character; 0 pads. ---
PAD = 0
IGNORE = -100  # a target without loss: cross_entropy's ignore_index
_CHARS = " .=" + "123" + "".join(TENSES) + "abcdefghijklmnopqrstuvwxyz" + "áéíóúñü"
STOI = {ch: i + 1 for i, ch in enumerate(_CHARS)}
ITOS = {i: ch for ch, i in STOI.items()}
EOS = STOI["."]


def encode(text: str) -> list[int]:
    unknown = sorted(set(text) - STOI.keys())
    if unknown:
        raise ValueError(f"characters {unknown} are not in the vocabulary of {len(STOI)} characters")
    return [STOI[ch] for ch in text]


def decode(ids: list[int]) -> str:
    return "".join(ITOS.get(i, "") for i in ids)


def encode_batch(examples: list[Example]) -> tuple[Tensor, Tensor]:
    """Inputs (B, T) and targets (B, T): the loss is only on the answer and its full stop."""
    seqs = [encode(e.text) for e in examples]
    T = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), T), PAD, dtype=torch.long)
    y = torch.full((len(seqs), T), IGNORE, dtype=torch.long)
    for row, (e, s) in enumerate(zip(examples, seqs, strict=True)):
        n_prompt = len(e.prompt)
        x[row, : len(s) - 1] = torch.tensor(s[:-1])
        y[row, n_prompt - 1 : len(s) - 1] = torch.tensor(s[n_prompt:])
    return x, y
