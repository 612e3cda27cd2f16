"""The contract of lab 00: what any LoRALinear must satisfy (run it on yours with --impl)."""

from __future__ import annotations

import io
import math
from types import ModuleType

import pytest
import torch
from torch import nn

from minituner.model import MiniGPT

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def wrapped(lora: ModuleType, r: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> nn.Module:
    return lora.wrap_minigpt_with_lora(MiniGPT(), r=r, alpha=alpha, target_modules=TARGETS, dropout=dropout)


def randomise_B(model: nn.Module) -> None:
    """Give every adapter a non-zero update, as training would."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(std=0.05)


def trainable_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


tokens = torch.randint(0, 64, (4, 16))

# --- identity at init -------------------------------------------------------------------------


@pytest.mark.parametrize(("d_in", "d_out", "bias"), [(64, 64, False), (64, 256, True), (256, 64, True)])
def test_lora_init_identity(lora: ModuleType, d_in: int, d_out: int, bias: bool) -> None:
    base = nn.Linear(d_in, d_out, bias=bias)
    x = torch.randn(8, d_in)
    expected = base(x)
    layer = lora.LoRALinear(base, r=8, alpha=16.0)
    assert (layer(x) - expected).abs().max().item() == 0.0
    assert torch.count_nonzero(layer.lora_B) == 0
    assert torch.count_nonzero(layer.lora_A) > 0  # A is random: B = 0 alone makes ΔW = 0


def test_lora_init_identity_whole_model(lora: ModuleType) -> None:
    model = MiniGPT().eval()
    expected = model(tokens)
    lora.wrap_minigpt_with_lora(model, r=8, alpha=16.0, target_modules=TARGETS, dropout=0.0)
    assert (model(tokens) - expected).abs().max().item() == 0.0


def test_lora_init_A_kaiming_uniform(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(256, 64), r=64)
    bound = 1 / math.sqrt(256)  # kaiming_uniform(a=√5) on fan_in 256, as nn.Linear
    assert layer.lora_A.abs().max().item() <= bound
    assert layer.lora_A.abs().max().item() > 0.9 * bound


def test_lora_forward_is_base_plus_scaled_BA(lora: ModuleType) -> None:
    base = nn.Linear(64, 32)
    layer = lora.LoRALinear(base, r=4, alpha=8.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(5, 64)
    expected = base(x) + (8.0 / 4) * x @ layer.lora_A.T @ layer.lora_B.T
    torch.testing.assert_close(layer(x), expected)


# --- parameter counts ---------------------------------------------------------------------------


def test_param_count_minigpt() -> None:
    assert sum(p.numel() for p in MiniGPT().parameters()) == 103_680


def test_param_count_linear_r8(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(64, 64), r=8)
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == 1024


@pytest.mark.parametrize("r", [1, 2, 4, 8, 16, 32])
def test_param_count_wrapped_is_2304_r(lora: ModuleType, r: int) -> None:
    model = wrapped(lora, r=r)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2304 * r
    assert sum(p.numel() for p in model.parameters()) == 103_680 + 2304 * r


# --- freezing: only A and B learn -------------------------------------------------------------


def assert_only_lora_gets_gradients(model: nn.Module) -> None:
    model.zero_grad(set_to_none=True)
    model(tokens).sum().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad, "no parameter received a gradient"
    assert all(n.endswith(("lora_A", "lora_B")) for n in with_grad), with_grad
    assert len(with_grad) == 24  # A and B of all 12 Linears (B = 0 still passes A a zero gradient)


def test_freeze_only_A_and_B_get_gradients(lora: ModuleType) -> None:
    model = wrapped(lora)
    assert all(n.endswith(("lora_A", "lora_B")) for n in trainable_names(model))
    assert_only_lora_gets_gradients(model)


def test_freeze_survives_to_train_eval(lora: ModuleType) -> None:
    model = wrapped(lora)
    before = trainable_names(model)
    model.to(torch.float32).to("cpu").eval().train()
    assert trainable_names(model) == before
    assert_only_lora_gets_gradients(model)


def test_freeze_survives_state_dict_roundtrip(lora: ModuleType) -> None:
    model = wrapped(lora)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    model.load_state_dict(torch.load(buffer))
    assert_only_lora_gets_gradients(model)


def test_freeze_base_false_trains_base(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(8, 8), r=2, freeze_base=False)
    assert layer.base.weight.requires_grad


def test_wrap_preserves_train_eval_mode(lora: ModuleType) -> None:
    for mode in (True, False):
        model = MiniGPT().train(mode)
        lora.wrap_minigpt_with_lora(model, r=2, alpha=4.0, target_modules=TARGETS, dropout=0.1)
        assert all(m.training == mode for m in model.modules())


def test_dropout_off_in_eval(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(64, 64), r=8, dropout=0.5)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(16, 64)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    layer.train()
    assert not torch.equal(layer(x), layer(x))  # dropout is on while training


# --- merging ------------------------------------------------------------------------------------


def test_merge_equivalence(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(64, 256), r=8, alpha=16.0)
    with torch.no_grad():
        layer.lora_B.normal_(std=0.1)
    x = torch.randn(32, 64)
    before = layer(x)
    layer.merge_()
    assert layer.merged
    assert (layer(x) - before).abs().max().item() < 1e-5


def test_merge_whole_model_equivalence(lora: ModuleType) -> None:
    model = wrapped(lora).eval()
    randomise_B(model)
    before = model(tokens)
    for m in model.modules():
        if isinstance(m, lora.LoRALinear):
            m.merge_()
    assert (model(tokens) - before).abs().max().item() < 1e-5


def test_merge_twice_never_adds_delta_twice(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(64, 64), r=8)
    with torch.no_grad():
        layer.lora_B.normal_(std=0.1)
    x = torch.randn(4, 64)
    before = layer(x)
    layer.merge_()
    merged_weight = layer.base.weight.detach().clone()
    with pytest.warns(UserWarning, match="already merged"):
        layer.merge_()
    assert torch.equal(layer.base.weight, merged_weight)
    assert (layer(x) - before).abs().max().item() < 1e-5


def test_merge_then_unmerge_restores(lora: ModuleType) -> None:
    base = nn.Linear(64, 64)
    original = base.weight.detach().clone()
    layer = lora.LoRALinear(base, r=8)
    with torch.no_grad():
        layer.lora_B.normal_(std=0.1)
    x = torch.randn(4, 64)
    before = layer(x)
    layer.merge_()
    layer.unmerge_()
    assert not layer.merged
    assert (layer.base.weight - original).abs().max().item() < 1e-6
    assert (layer(x) - before).abs().max().item() < 1e-5


def test_merge_safe_refuses_non_finite(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(8, 8), r=2)
    with torch.no_grad():
        layer.lora_B.fill_(float("inf"))
    original = layer.base.weight.detach().clone()
    with pytest.raises(ValueError, match="non-finite"):
        layer.merge_(safe=True)
    assert torch.equal(layer.base.weight, original) and not layer.merged


# --- adapter round trip -------------------------------------------------------------------------


def test_roundtrip_lora_state_dict(lora: ModuleType) -> None:
    trained = wrapped(lora).eval()
    randomise_B(trained)
    state = lora.lora_state_dict(trained)
    assert len(state) == 24 and all(k.endswith(("lora_A", "lora_B")) for k in state)
    assert sum(t.numel() for t in state.values()) == 2304 * 8

    fresh = MiniGPT().eval()
    fresh.load_state_dict({k: v for k, v in trained.state_dict().items() if "lora_" not in k}, strict=False)
    fresh.load_state_dict(MiniGPT().state_dict())  # the same architecture, other weights
    base = MiniGPT().eval()
    base.load_state_dict(_unwrapped_state(trained))
    lora.wrap_minigpt_with_lora(base, r=8, alpha=16.0, target_modules=TARGETS, dropout=0.0)
    lora.load_lora_state_dict(base, state)
    assert (base(tokens) - trained(tokens)).abs().max().item() < 1e-5


def _unwrapped_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base weights of a wrapped model under Mini-GPT's own names (`x.base.weight` -> `x.weight`)."""
    return {
        k.replace(".base.", "."): v
        for k, v in model.state_dict().items()
        if not k.endswith(("lora_A", "lora_B"))
    }


def test_roundtrip_rank_mismatch_fails_loudly_and_loads_nothing(lora: ModuleType) -> None:
    rank4 = wrapped(lora, r=4)
    randomise_B(rank4)
    rank8 = wrapped(lora, r=8)
    before = {k: v.clone() for k, v in lora.lora_state_dict(rank8).items()}
    with pytest.raises(ValueError, match=r"blocks\.0\.attn\.q_proj\.lora_A.*\(8, 64\).*\(4, 64\)"):
        lora.load_lora_state_dict(rank8, lora.lora_state_dict(rank4))
    after = lora.lora_state_dict(rank8)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_roundtrip_missing_key_is_named(lora: ModuleType) -> None:
    model = wrapped(lora)
    state = lora.lora_state_dict(model)
    del state["blocks.1.mlp.fc2.lora_B"]
    with pytest.raises(KeyError, match=r"blocks\.1\.mlp\.fc2\.lora_B"):
        lora.load_lora_state_dict(model, state)


# --- bad input fails where it is made ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"r": 0}, ValueError, "r=0"),
        ({"r": -3}, ValueError, "r=-3"),
        ({"r": 2.5}, TypeError, "2.5"),
        ({"r": True}, TypeError, "True"),
        ({"alpha": 0.0}, ValueError, "alpha=0.0"),
        ({"alpha": -1.0}, ValueError, "alpha=-1.0"),
        ({"alpha": float("nan")}, ValueError, "alpha=nan"),
        ({"dropout": 1.0}, ValueError, "dropout=1.0"),
        ({"dropout": -0.1}, ValueError, "dropout=-0.1"),
    ],
)
def test_bad_arguments_fail_at_construction(
    lora: ModuleType, kwargs: dict[str, float], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        lora.LoRALinear(nn.Linear(8, 8), **kwargs)


def test_base_must_be_linear(lora: ModuleType) -> None:
    with pytest.raises(TypeError, match="Conv1d"):
        lora.LoRALinear(nn.Conv1d(8, 8, 1))


def test_unknown_target_lists_the_real_names(lora: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"q_porj.*blocks\.0\.attn\.q_proj"):
        lora.wrap_minigpt_with_lora(MiniGPT(), r=8, alpha=16.0, target_modules=["q_porj"], dropout=0.0)


def test_suffix_matching_selects_exactly_the_named_linears(lora: ModuleType) -> None:
    model = lora.wrap_minigpt_with_lora(
        MiniGPT(), r=2, alpha=4.0, target_modules=["q_proj", "v_proj"], dropout=0.0
    )
    adapted = sorted(n for n, m in model.named_modules() if isinstance(m, lora.LoRALinear))
    assert adapted == [f"blocks.{i}.attn.{p}" for i in (0, 1) for p in ("q_proj", "v_proj")]
