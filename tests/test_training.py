from __future__ import annotations

import pytest
import torch

from minituner.checkpoint import load_base
from minituner.grammar import make_splits
from minituner.recipes import FinetuneConfig, PretrainConfig, finetune, pretrain, sampler
from minituner.train import train, warmup_cosine


def test_schedule_warms_up_then_decays() -> None:
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(99, 100, 10) == pytest.approx(0.1, abs=1e-3)


def test_pretraining_is_deterministic() -> None:
    cfg = PretrainConfig(steps=3, batch_size=8)
    a, b = pretrain(cfg, progress=False), pretrain(cfg, progress=False)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_train_refuses_a_model_with_nothing_to_train() -> None:
    model = load_base().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(model, sampler([(make_splits().irregular, 4)], seed=0), steps=1, lr=1e-3, progress=False)


def test_lora_finetune_learns_the_irregular_verbs_and_keeps_the_rules() -> None:
    result = finetune(load_base(), FinetuneConfig(r=8), progress=False)
    assert result.trainable == 2304 * 8
    assert result.irregular_accuracy >= 0.95
    assert result.retention >= 0.85
    assert result.losses[-1] < result.losses[0] / 5
