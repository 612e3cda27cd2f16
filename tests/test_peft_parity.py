"""minituner against the references: Hugging Face peft and microsoft's loralib, same numbers."""

from __future__ import annotations

import math
from pathlib import Path

import loralib
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from torch import nn

from minituner import LoRALinear, MiniGPT, load_base, lora_state_dict, wrap_minigpt_with_lora
from minituner.course.breaks import with_random_B
from minituner.interop import (
    export_peft_adapter,
    from_peft_state_dict,
    import_peft_adapter,
    to_peft_state_dict,
)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"]
tokens = torch.randint(1, 45, (4, 16))


def trained_minituner(r: int, alpha: float) -> nn.Module:
    return with_random_B(wrap_minigpt_with_lora(load_base(), r=r, alpha=alpha).eval(), std=0.02)


def peft_minigpt(r: int, alpha: float) -> nn.Module:
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=TARGETS, lora_dropout=0.0)
    return get_peft_model(load_base(), config).eval()


shapes = st.tuples(st.integers(1, 80), st.integers(1, 80), st.integers(1, 16), st.floats(1.0, 64.0))


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 1000))
def test_linear_matches_peft_and_loralib(shape: tuple[int, int, int, float], seed: int) -> None:
    d_in, d_out, r, alpha = shape
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out)
    ours = LoRALinear(nn.Linear(d_in, d_out), r=r, alpha=alpha)
    ours.base.load_state_dict(base.state_dict())
    with torch.no_grad():
        ours.lora_B.normal_()
    ref = get_peft_model(
        nn.Sequential(nn.Linear(d_in, d_out)), LoraConfig(r=r, lora_alpha=alpha, target_modules=["0"])
    )
    peft_layer = ref.base_model.model[0]
    ms = loralib.Linear(d_in, d_out, r=r, lora_alpha=alpha, merge_weights=False)
    with torch.no_grad():
        for layer in (peft_layer.base_layer, ms):
            layer.weight.copy_(base.weight)
            layer.bias.copy_(base.bias)
        peft_layer.lora_A["default"].weight.copy_(ours.lora_A)
        peft_layer.lora_B["default"].weight.copy_(ours.lora_B)
        ms.lora_A.copy_(ours.lora_A)
        ms.lora_B.copy_(ours.lora_B)
    x = torch.randn(5, d_in)
    assert (ours(x) - ref(x)).abs().max().item() <= 1e-6 * max(1.0, ours(x).abs().max().item())
    assert (ours(x) - ms(x)).abs().max().item() <= 1e-6 * max(1.0, ours(x).abs().max().item())
    assert ours.scaling == peft_layer.scaling["default"] == ms.scaling
    torch.testing.assert_close(ours.delta_weight(), peft_layer.get_delta_weight("default"))
    # merged weights: loralib merges when its layer goes to eval mode
    ms.merge_weights = True
    ms.eval()
    ours.merge_()
    torch.testing.assert_close(ours.base.weight, ms.weight)


def test_trainable_count_equals_peft() -> None:
    for r in (1, 8):
        ref = peft_minigpt(r, 2.0 * r)
        trainable, _ = ref.get_nb_trainable_parameters()
        assert trainable == 2304 * r


def test_whole_model_and_merged_weights_match_peft() -> None:
    ours = trained_minituner(8, 16.0)
    ref = peft_minigpt(8, 16.0)
    ref.load_state_dict(to_peft_state_dict_with_adapter(lora_state_dict(ours)), strict=False)
    assert (ours(tokens) - ref(tokens)).abs().max().item() < 1e-6 * ours(tokens).abs().max().item() + 1e-6
    merged = ref.merge_and_unload()
    for m in ours.modules():
        if isinstance(m, LoRALinear):
            m.merge_()
    ours_w = {
        n.replace(".base", ""): m.base.weight for n, m in ours.named_modules() if isinstance(m, LoRALinear)
    }
    for name, weight in ours_w.items():
        torch.testing.assert_close(weight, merged.get_submodule(name).weight)


def to_peft_state_dict_with_adapter(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """peft's in-memory names carry the adapter name: ...lora_A.default.weight."""
    return {k.replace(".weight", ".default.weight"): v for k, v in to_peft_state_dict(state).items()}


def test_exported_adapter_loads_in_peft_and_comes_back(tmp_path: Path) -> None:
    ours = trained_minituner(4, 8.0)
    export_peft_adapter(ours, tmp_path / "peft")
    ref = PeftModel.from_pretrained(load_base(), tmp_path / "peft").eval()
    assert (ours(tokens) - ref(tokens)).abs().max().item() < 1e-5
    # and back: peft's own save, imported into minituner
    ref.save_pretrained(tmp_path / "saved")
    back = import_peft_adapter(MiniGPT().eval(), tmp_path / "saved")
    back.load_state_dict({k: v for k, v in ours.state_dict().items() if "lora_" not in k}, strict=False)
    assert (back(tokens) - ours(tokens)).abs().max().item() < 1e-5
    assert (
        from_peft_state_dict(to_peft_state_dict(lora_state_dict(ours))).keys() == lora_state_dict(ours).keys()
    )
    assert get_peft_model_state_dict(ref).keys() == to_peft_state_dict(lora_state_dict(ours)).keys()


def test_an_rslora_adapter_imports_with_alpha_times_sqrt_r(tmp_path: Path) -> None:
    """rsLoRA scales B·A by lora_alpha/√r; minituner's alpha/r is that scale with alpha = lora_alpha·√r
    (theory 04), which is how import_peft_adapter loads it. DoRA has no equivalent: refused."""
    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, lora_dropout=0.0, use_rslora=True)
    ref = get_peft_model(load_base(), config).eval()
    with torch.no_grad():
        for name, param in ref.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.02)
    ref.save_pretrained(tmp_path / "rslora")
    ours = import_peft_adapter(load_base(), tmp_path / "rslora").eval()
    layer, peft_layer = ours.blocks[0].attn.q_proj, ref.base_model.model.blocks[0].attn.q_proj
    assert math.isclose(layer.scaling, peft_layer.scaling["default"])
    assert math.isclose(layer.scaling, 16 / math.sqrt(8)) and layer.scaling != 16 / 8
    assert (ours(tokens) - ref(tokens)).abs().max().item() < 1e-5
    dora = get_peft_model(load_base(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, use_dora=True))
    dora.save_pretrained(tmp_path / "dora")
    with pytest.raises(ValueError, match="use_dora"):
        import_peft_adapter(load_base(), tmp_path / "dora")


def test_pissa_in_the_course_convention() -> None:
    """Lab 04's PiSSA formula, with ΔW = sBA and s = α/r: B = U_r (S_r/s)^½, A = (S_r/s)^½ V_rᵀ, and the
    base keeps W₀ − sBA. At α = 16, r = 8 (s = 2) the formula without s is √2 off in B and in A."""
    r, alpha = 8, 16.0
    s = alpha / r
    base = load_base()
    before = {n: m.weight.detach().clone() for n, m in base.named_modules() if isinstance(m, nn.Linear)}
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=TARGETS, init_lora_weights="pissa")
    ref = get_peft_model(base, config)
    layers = {n: m for n, m in ref.base_model.model.named_modules() if isinstance(m, LoraLayer)}
    assert layers.keys() == before.keys() and len(layers) == 12
    for name, layer in layers.items():
        B, A = layer.lora_B["default"].weight.detach(), layer.lora_A["default"].weight.detach()
        U, S, Vh = torch.linalg.svd(before[name], full_matrices=False)
        half = (S[:r] / s).sqrt()  # the columns of U_r and the rows of V_rᵀ have norm 1
        torch.testing.assert_close(B.norm(dim=0), half)
        torch.testing.assert_close(A.norm(dim=1), half)
        principal = U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]
        torch.testing.assert_close(s * B @ A, principal, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(layer.base_layer.weight.detach(), before[name] - s * B @ A)
        assert not torch.allclose(B.norm(dim=0), S[:r].sqrt())  # B = U_r S_r^½ is not peft's
    for page in ("lab/04-minituner-to-peft.md", "lab/04-minituner-to-peft.es.md"):
        text = " ".join((Path(__file__).parent.parent / page).read_text().split())
        for formula in (r"B = U_r (S_r / s)^{1/2}", r"A = (S_r / s)^{1/2} V_r^\top", r"W_0 - sBA"):
            assert formula in text, f"{page}: {formula}"


def test_peft_keeps_adapters_in_float32_by_default() -> None:
    """Lab 04 and theory 04: on a float16 base, peft's adapters are float32 (autocast_adapter_dtype),
    minituner's are float16, the dtype of the base weight."""
    ref = get_peft_model(MiniGPT().half(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    layer = ref.base_model.model.blocks[0].attn.q_proj
    assert layer.base_layer.weight.dtype == torch.float16
    assert layer.lora_A["default"].weight.dtype == torch.float32
    ours = wrap_minigpt_with_lora(MiniGPT().half(), r=8)
    assert ours.blocks[0].attn.q_proj.lora_A.dtype == torch.float16
    for page in ("lab/04-minituner-to-peft.md", "lab/04-minituner-to-peft.es.md"):
        assert "`autocast_adapter_dtype=True`" in (Path(__file__).parent.parent / page).read_text(), page
