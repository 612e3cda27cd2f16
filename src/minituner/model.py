"""Mini-GPT: a 103,680-parameter pre-LayerNorm decoder, small enough to train on a CPU.

Every size comes from one `MiniGPTConfig`; the module names (`blocks.0.attn.q_proj`, ...) are the
names used in the theory tables, in `target_modules` and in every state-dict key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class MiniGPTConfig:
    vocab_size: int = 64
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    n_layers: int = 2
    max_len: int = 48


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """The fixed position table of Vaswani et al. (2017, §3.5): zero learned parameters."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (C/2,)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table  # (T, C)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model={cfg.d_model} must be divisible by n_heads={cfg.n_heads}")
        self.n_heads = cfg.n_heads
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.o_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        # (B, T, C) -> (B, heads, T, C // heads)
        q, k, v = (
            proj(x).view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, C // heads)
        out: Tensor = self.o_proj(y.transpose(1, 2).reshape(B, T, C))
        return out


class MLP(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.fc2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc2(F.gelu(self.fc1(x)))
        return out


class Block(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))  # pre-LayerNorm: normalise, transform, add back
        out: Tensor = x + self.mlp(self.ln2(x))
        return out


class MiniGPT(nn.Module):
    pos: Tensor  # (max_len, d_model), registered as a non-persistent buffer

    def __init__(self, cfg: MiniGPTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or MiniGPTConfig()
        self.tok_emb = nn.Embedding(self.cfg.vocab_size, self.cfg.d_model)
        self.blocks = nn.ModuleList(Block(self.cfg) for _ in range(self.cfg.n_layers))
        self.ln_f = nn.LayerNorm(self.cfg.d_model)
        # Not a parameter and not saved: the table is recomputed from the config.
        self.register_buffer(
            "pos", sinusoidal_positions(self.cfg.max_len, self.cfg.d_model), persistent=False
        )
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # GPT-2's scheme: N(0, 0.02) for weights and embeddings, zero biases.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: Tensor) -> Tensor:
        """Token ids (B, T) -> next-token logits (B, T, vocab)."""
        T = idx.shape[1]
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len={self.cfg.max_len}")
        x = self.tok_emb(idx) + self.pos[:T]  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        # Tied embedding: the output head reuses tok_emb's matrix (Press & Wolf, 2017).
        return F.linear(self.ln_f(x), self.tok_emb.weight)  # (B, T, vocab)


def parameter_inventory(model: nn.Module) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, count) for every parameter, in the order of the state dict."""
    return [(name, tuple(p.shape), p.numel()) for name, p in model.named_parameters()]
