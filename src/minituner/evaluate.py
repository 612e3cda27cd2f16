"""Batched greedy decoding and exact-match accuracy."""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn

from .grammar import EOS, IGNORE, PAD, TENSES, Example, decode, encode, encode_batch

# Examples per forward pass when predicting or scoring: the answers do not depend on it (the same at
# 256 and at 1024 on every split), only the time and the memory do.
BATCH_SIZE = 1024


@torch.no_grad()
def generate(model: nn.Module, prompts: list[str], max_new_tokens: int = 16) -> list[str]:
    """Greedy continuation of each prompt up to its full stop (not included)."""
    was_training = model.training
    model.eval()
    encoded = [encode(p) for p in prompts]
    lengths = torch.tensor([len(e) for e in encoded])
    buf = torch.full((len(prompts), int(lengths.max()) + max_new_tokens), PAD, dtype=torch.long)
    for row, ids in enumerate(encoded):
        buf[row, : len(ids)] = torch.tensor(ids)
    rows = torch.arange(len(prompts))
    done = torch.zeros(len(prompts), dtype=torch.bool)
    for _ in range(max_new_tokens):
        # Right padding is safe under causal attention: position t never sees what follows it.
        logits = model(buf[:, : int(lengths.max())])  # (B, T, vocab)
        nxt = logits[rows, lengths - 1].argmax(-1)  # each row's next token
        nxt[done] = PAD
        buf[rows, lengths] = nxt
        lengths = lengths + (~done).long()
        done |= nxt == EOS
        if done.all():
            break
    model.train(was_training)
    answers = []
    for row, ids in enumerate(encoded):
        out = buf[row, len(ids) : int(lengths[row])].tolist()
        answers.append(decode(out[: out.index(EOS)] if EOS in out else out))
    return answers


def predict(model: nn.Module, examples: list[Example], batch_size: int = BATCH_SIZE) -> list[str]:
    answers: list[str] = []
    for i in range(0, len(examples), batch_size):
        answers += generate(model, [e.prompt for e in examples[i : i + batch_size]])
    return answers


@torch.no_grad()
def correct(model: nn.Module, examples: list[Example], batch_size: int = BATCH_SIZE) -> list[bool]:
    """Would greedy decoding write exactly each answer? One forward pass per batch, no decoding loop.

    Greedy decoding writes the answer iff, at every answer position, the most likely next token
    given the *correct* prefix is the correct token (by induction on the position), full stop
    included. So teacher forcing gives exact-match accuracy without a decoding loop.
    """
    was_training = model.training
    model.eval()
    hits: list[bool] = []
    for i in range(0, len(examples), batch_size):
        x, y = encode_batch(examples[i : i + batch_size])
        ok = (model(x).argmax(-1) == y) | (y == IGNORE)  # (B, T)
        hits += ok.all(dim=1).tolist()
    model.train(was_training)
    return hits


def accuracy(model: nn.Module, examples: list[Example]) -> float:
    """Exact match: the whole form, accents included."""
    hits = correct(model, examples)
    return sum(hits) / len(hits)


def accuracy_by_tense(model: nn.Module, examples: list[Example]) -> dict[str, float]:
    by_tense: dict[str, list[bool]] = defaultdict(list)
    for hit, e in zip(correct(model, examples), examples, strict=True):
        by_tense[e.tense].append(hit)
    return {TENSES[t]: sum(h) / len(h) for t, h in by_tense.items()}
