"""Property-based checks of the reference lora.py over shapes, ranks and scales (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from minituner import lora

shapes = st.tuples(st.integers(1, 96), st.integers(1, 96), st.integers(1, 48), st.booleans())
alphas = st.floats(0.5, 64.0)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, alpha=alphas, batch=st.integers(1, 8))
def test_identity_at_init_for_any_shape_and_rank(
    shape: tuple[int, int, int, bool], alpha: float, batch: int
) -> None:
    d_in, d_out, r, bias = shape
    base = nn.Linear(d_in, d_out, bias=bias)
    x = torch.randn(batch, d_in)
    torch.testing.assert_close(lora.LoRALinear(base, r=r, alpha=alpha)(x), base(x), rtol=0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, alpha=alphas, seed=st.integers(0, 2**16))
def test_merge_equivalence_for_any_shape_and_rank(
    shape: tuple[int, int, int, bool], alpha: float, seed: int
) -> None:
    d_in, d_out, r, bias = shape
    torch.manual_seed(seed)
    layer = lora.LoRALinear(nn.Linear(d_in, d_out, bias=bias), r=r, alpha=alpha)
    with torch.no_grad():
        layer.lora_B.normal_(std=0.1 / alpha)  # a trained-sized update, whatever the scale
    x = torch.randn(4, d_in)
    before = layer(x)
    layer.merge_()
    assert (layer(x) - before).abs().max().item() < 1e-5
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == r * (d_in + d_out)
