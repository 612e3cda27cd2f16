"""The contract of lab 00: what any LoRALinear must satisfy (run it on yours with --impl)."""

from __future__ import annotations

import io
import math
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

from minituner.course.breaks import with_random_B
from minituner.model import MiniGPT

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def wrapped(lora: ModuleType, r: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> nn.Module:
    model: nn.Module = lora.wrap_minigpt_with_lora(
        MiniGPT(), r=r, alpha=alpha, target_modules=TARGETS, dropout=dropout
    )
    return model


def randomise_B(model: nn.Module) -> None:
    """Give every adapter a non-zero update, as training would."""
    with_random_B(model, std=0.05)


def trainable_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


tokens = torch.randint(0, 64, (4, 16))

# --- identity at init -------------------------------------------------------------------------


def changed_at_init(message: str) -> str:
    return f"a new adapter changes the base's output (with B = 0 it must not): {message}"


@pytest.mark.parametrize(("d_in", "d_out", "bias"), [(64, 64, False), (64, 256, True), (256, 64, True)])
def test_lora_init_identity(lora: ModuleType, d_in: int, d_out: int, bias: bool) -> None:
    base = nn.Linear(d_in, d_out, bias=bias)
    x = torch.randn(8, d_in)
    expected = base(x)
    layer = lora.LoRALinear(base, r=8, alpha=16.0)
    # With B = 0 the update is exactly zero; the tolerance only allows another order of the same sums.
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6, msg=changed_at_init)
    assert torch.count_nonzero(layer.lora_B) == 0
    assert torch.count_nonzero(layer.lora_A) > 0  # A is random: B = 0 alone makes ΔW = 0


def test_lora_init_identity_whole_model(lora: ModuleType) -> None:
    model = MiniGPT().eval()
    expected = model(tokens)
    lora.wrap_minigpt_with_lora(model, r=8, alpha=16.0, target_modules=TARGETS, dropout=0.0)
    torch.testing.assert_close(model(tokens), expected, rtol=0, atol=1e-6, msg=changed_at_init)


def test_lora_init_A_kaiming_uniform(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(256, 64), r=64)
    bound = 1 / math.sqrt(256)  # kaiming_uniform(a=√5) on fan_in 256, as nn.Linear
    assert layer.lora_A.abs().max().item() <= bound
    assert layer.lora_A.abs().max().item() > 0.99 * bound  # 16,384 draws: the max is within 0.1%


def test_lora_forward_is_base_plus_scaled_BA(lora: ModuleType) -> None:
    base = nn.Linear(64, 32)
    layer = lora.LoRALinear(base, r=4, alpha=8.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(5, 64)
    expected = base(x) + (8.0 / 4) * x @ layer.lora_A.T @ layer.lora_B.T
    torch.testing.assert_close(
        layer(x), expected, msg=lambda message: f"the output is not base(x) + alpha/r * B A x: {message}"
    )


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
    others = sorted(n for n in trainable_names(model) if not n.endswith(("lora_A", "lora_B")))
    assert not others, f"parameters other than lora_A and lora_B are trainable: {others[:3]}"
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
    assert layer.merged, "merge_() did not set merged = True"
    diff = (layer(x) - before).abs().max().item()
    assert diff < 1e-5, f"the merged output differs from the unmerged one by {diff:.1e}, above 1e-5"


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


# --- the defaults the pages teach ---------------------------------------------------------------


def test_lora_linear_defaults_are_r8_alpha16_no_dropout_frozen_base(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(64, 64)).train()
    assert tuple(layer.lora_A.shape) == (8, 64) and tuple(layer.lora_B.shape) == (64, 8)
    assert not layer.base.weight.requires_grad and not layer.merged
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 64)
    assert torch.equal(layer(x), layer(x)), "dropout must default to 0: training outputs differ"
    expected = layer.base(x) + (16.0 / 8) * x @ layer.lora_A.T @ layer.lora_B.T
    torch.testing.assert_close(layer(x), expected)  # alpha / r = 16 / 8
    torch.testing.assert_close(layer.delta_weight(), 2.0 * layer.lora_B @ layer.lora_A)


def test_wrap_defaults_adapt_all_12_linears_at_r8_alpha16(lora: ModuleType) -> None:
    model = lora.wrap_minigpt_with_lora(MiniGPT()).train()
    layers = [m for m in model.modules() if isinstance(m, lora.LoRALinear)]
    assert len(layers) == 12
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2304 * 8
    randomise_B(model)
    for layer in layers:
        torch.testing.assert_close(layer.delta_weight(), 2.0 * layer.lora_B @ layer.lora_A)
    assert torch.equal(model(tokens), model(tokens)), "dropout must default to 0"


# --- what a second call must refuse -------------------------------------------------------------


def test_wrapping_twice_is_refused(lora: ModuleType) -> None:
    model = wrapped(lora)
    with pytest.raises(ValueError, match="already"):
        lora.wrap_minigpt_with_lora(model, r=8, alpha=16.0, target_modules=TARGETS, dropout=0.0)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2304 * 8


def test_loading_into_a_merged_model_is_refused(lora: ModuleType) -> None:
    model = wrapped(lora).eval()
    randomise_B(model)
    state = lora.lora_state_dict(model)
    for m in model.modules():
        if isinstance(m, lora.LoRALinear):
            m.merge_()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="unmerge"):
        lora.load_lora_state_dict(model, state)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_merge_without_safe_folds_even_non_finite_values(lora: ModuleType) -> None:
    for safe in (None, False):  # safe=False is the default: no check, no error
        layer = lora.LoRALinear(nn.Linear(8, 8), r=2)
        with torch.no_grad():
            layer.lora_B.fill_(float("inf"))
        layer.merge_() if safe is None else layer.merge_(safe=safe)
        assert layer.merged and not torch.isfinite(layer.base.weight).all()


def test_safe_merge_of_finite_values_merges(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(8, 8), r=2)
    with torch.no_grad():
        layer.lora_B.normal_()
    expected = layer.base.weight + layer.delta_weight()
    layer.merge_(safe=True)
    assert layer.merged
    torch.testing.assert_close(layer.base.weight, expected)


def test_unmerge_of_an_unmerged_layer_warns_and_changes_nothing(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(8, 8), r=2)
    with torch.no_grad():
        layer.lora_B.normal_()
    weight = layer.base.weight.detach().clone()
    with pytest.warns(UserWarning, match="not merged"):
        layer.unmerge_()
    assert torch.equal(layer.base.weight, weight) and not layer.merged


# --- lab 01's counts (from your lora.py if it has them, else skipped) ---------------------------


def lab01(lora: ModuleType, name: str) -> Any:
    """Lab 01's function, or a skip (the grader accepts it only for the tests in contract.OPTIONAL)."""
    if not hasattr(lora, name):
        pytest.skip(f"{name} is lab 01's; this lora.py does not define it")
    return getattr(lora, name)


@pytest.mark.parametrize(
    ("r", "targets", "expected"),
    [
        (8, TARGETS, 18_432),
        (1, ["q_proj"], 2 * 128),  # r·(64 + 64) in each of the 2 blocks
        (4, ["fc1"], 2 * 4 * (64 + 256)),
        (2, "fc2", 2 * 2 * (256 + 64)),  # a single name, as wrap_minigpt_with_lora accepts it
        (3, ["q_proj", "fc1"], 2 * 3 * (128 + 320)),
    ],
)
def test_lora_parameter_count_is_r_times_in_plus_out(
    lora: ModuleType, r: int, targets: Any, expected: int
) -> None:
    count = lab01(lora, "lora_parameter_count")
    assert count(MiniGPT(), r, targets) == expected
    model = lora.wrap_minigpt_with_lora(MiniGPT(), r=r, alpha=16.0, target_modules=targets, dropout=0.0)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected


def test_lora_parameter_count_defaults_to_all_12_linears(lora: ModuleType) -> None:
    assert lab01(lora, "lora_parameter_count")(MiniGPT(), 8) == 2304 * 8


def test_trainable_parameters_report_prints_what_peft_prints(lora: ModuleType) -> None:
    report = lab01(lora, "trainable_parameters_report")
    line = "trainable params: 18,432 || all params: 122,112 || trainable%: 15.0943"
    assert report(lora.wrap_minigpt_with_lora(MiniGPT())) == line
    frozen = MiniGPT().requires_grad_(False)
    frozen.tok_emb.requires_grad_(True)  # 4,096 of 103,680
    assert report(frozen) == "trainable params: 4,096 || all params: 103,680 || trainable%: 3.9506"


def test_lora_linear_stores_r_alpha_scaling_and_merged(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(64, 64), r=4, alpha=2.0)
    assert (layer.r, layer.alpha, layer.scaling) == (4, 2.0, 0.5)
    assert layer.merged is False


def test_a_small_positive_alpha_is_accepted(lora: ModuleType) -> None:
    layer = lora.LoRALinear(nn.Linear(8, 8), r=2, alpha=0.5)
    with torch.no_grad():
        layer.lora_B.normal_()
    torch.testing.assert_close(layer.delta_weight(), 0.25 * layer.lora_B @ layer.lora_A)


@pytest.mark.parametrize(("dtype", "device"), [(torch.float64, "cpu"), (torch.float32, "meta")])
def test_A_and_B_follow_the_base_dtype_and_device(lora: ModuleType, dtype: torch.dtype, device: str) -> None:
    layer = lora.LoRALinear(nn.Linear(8, 16, dtype=dtype, device=device), r=2)
    for p in (layer.lora_A, layer.lora_B):
        assert p.dtype == dtype and p.device.type == device


def test_wrap_passes_alpha_and_dropout_to_every_layer(lora: ModuleType) -> None:
    model = lora.wrap_minigpt_with_lora(MiniGPT(), r=2, alpha=4.0, target_modules=TARGETS, dropout=0.5)
    randomise_B(model)
    layers = [m for m in model.modules() if isinstance(m, lora.LoRALinear)]
    for layer in layers:
        torch.testing.assert_close(layer.delta_weight(), 2.0 * layer.lora_B @ layer.lora_A)
    model.train()
    assert not torch.equal(model(tokens), model(tokens)), "dropout=0.5 never reached the layers"


def test_empty_target_modules_are_refused(lora: ModuleType) -> None:
    with pytest.raises(ValueError, match="target_modules"):
        lora.wrap_minigpt_with_lora(MiniGPT(), r=8, alpha=16.0, target_modules=[], dropout=0.0)


def test_loading_into_an_unwrapped_model_is_refused(lora: ModuleType) -> None:
    state = lora.lora_state_dict(wrapped(lora))
    with pytest.raises(ValueError, match="wrap"):
        lora.load_lora_state_dict(MiniGPT(), state)


def test_roundtrip_unexpected_key_is_named_and_nothing_is_loaded(lora: ModuleType) -> None:
    model = wrapped(lora)
    before = {k: v.clone() for k, v in lora.lora_state_dict(model).items()}
    state = {k: torch.ones_like(v) for k, v in before.items()}
    state["blocks.2.attn.q_proj.lora_A"] = torch.ones(8, 64)  # a third block Mini-GPT does not have
    with pytest.raises(KeyError, match=r"blocks\.2\.attn\.q_proj\.lora_A"):
        lora.load_lora_state_dict(model, state)
    assert all(torch.equal(before[k], v) for k, v in lora.lora_state_dict(model).items())


def test_roundtrip_renamed_key_names_both_sides(lora: ModuleType) -> None:
    model = wrapped(lora)
    state = lora.lora_state_dict(model)
    state["base_model.blocks.0.mlp.fc1.lora_B"] = state.pop("blocks.0.mlp.fc1.lora_B")
    with pytest.raises(KeyError) as err:
        lora.load_lora_state_dict(model, state)
    assert "'blocks.0.mlp.fc1.lora_B'" in str(err.value)
    assert "'base_model.blocks.0.mlp.fc1.lora_B'" in str(err.value)
