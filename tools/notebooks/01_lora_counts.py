# %% [markdown] lang="en"
# # Lab 01 — LoRA counts
#
# Every number of theory 02 and 05, measured from the model instead of typed: the parameter
# inventory of Mini-GPT, LoRA's 2304·r, the fractions, the ratios and the checkpoint sizes.

# %% [markdown] lang="es"
# # Laboratorio 01 — Conteos de LoRA
#
# Cada número de la teoría 02 y 05, medido en el modelo en lugar de escrito a mano: el inventario de
# parámetros de Mini-GPT, los 2304·r de LoRA, las fracciones, las razones y los tamaños de checkpoint.

# %%
import tempfile
from collections import defaultdict
from pathlib import Path

from torch import nn

from minituner import (
    MiniGPT,
    count_parameters,
    lora_parameter_count,
    save_adapter,
    trainable_parameters_report,
    wrap_minigpt_with_lora,
)
from minituner.checkpoint import base_path
from minituner.model import parameter_inventory

model = MiniGPT()

# %% [markdown] lang="en"
# ## The inventory, by layer
#
# Weights and biases of every module, grouped by kind.

# %% [markdown] lang="es"
# ## El inventario, por capa
#
# Pesos y sesgos de cada módulo, agrupados por tipo.

# %%
by_module = defaultdict(int)
for name, _shape, count in parameter_inventory(model):
    by_module[name.rsplit(".", 1)[0]] += count
for module, count in by_module.items():
    print(f"{module:<22} {count:>7,}")
total = sum(by_module.values())
linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
weights = sum(m.weight.numel() for m in linears)
biases = sum(m.bias.numel() for m in linears if m.bias is not None)
layernorms = sum(p.numel() for m in model.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters())
print(f"\ntotal {total:,} = {weights + biases:,} in {len(linears)} Linears ({weights:,} weights + {biases:,} biases)"
      f" + {model.tok_emb.weight.numel():,} embedding + {layernorms:,} LayerNorm")

# %% [markdown] lang="en"
# ## LoRA's 2304·r, counted two ways
#
# By the formula r·(in + out) summed over the 12 Linears, and by wrapping a model and counting what
# requires a gradient. They must agree for every rank.

# %% [markdown] lang="es"
# ## Los 2304·r de LoRA, contados de dos maneras
#
# Con la fórmula r·(in + out) sumada sobre los 12 Linear, y envolviendo un modelo y contando lo que
# requiere gradiente. Deben coincidir para cada rango.

# %%
print(f"{'r':>3} {'LoRA params':>12} {'of 103,680':>11} {'of Linears':>11} {'fp16 bytes':>11} {'fp32 bytes':>11}")
for r in (1, 2, 4, 8, 16, 32, 64):
    by_formula = lora_parameter_count(MiniGPT(), r)
    by_wrapping, _ = count_parameters(wrap_minigpt_with_lora(MiniGPT(), r=r))
    assert by_formula == by_wrapping == 2304 * r
    print(f"{r:>3} {by_formula:>12,} {by_formula / total:>11.2%} {by_formula / (weights + biases):>11.2%}"
          f" {2 * by_formula:>11,} {4 * by_formula:>11,}")

# %%
print(trainable_parameters_report(wrap_minigpt_with_lora(MiniGPT(), r=8)))

# %% [markdown] lang="en"
# ## Ratios: per square Linear and per block
#
# A square h × h Linear gets 2hr LoRA parameters for h² weights (2r/h); a whole block, with four
# h × h projections and an h × 4h MLP, gets 18hr for 12h² weights (1.5·r/h).

# %% [markdown] lang="es"
# ## Razones: por Linear cuadrado y por bloque
#
# Un Linear cuadrado h × h recibe 2hr parámetros LoRA por h² pesos (2r/h); un bloque entero, con
# cuatro proyecciones h × h y un MLP h × 4h, recibe 18hr por 12h² pesos (1.5·r/h).

# %%
r = 8
block = model.blocks[0]
square = block.attn.q_proj
block_weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Linear))
block_lora = lora_parameter_count(block, r)
square_lora = r * (square.in_features + square.out_features)
print(f"square Linear: {square_lora:,} / {square.weight.numel():,} = "
      f"{square_lora / square.weight.numel():.2%} (2r/h = {2 * r / 64:.2%})")
print(f"one block:     {block_lora:,} / {block_weights:,} = {block_lora / block_weights:.2%} (1.5·r/h = {1.5 * r / 64:.2%})")
for h in (768, 4096):
    print(f"h={h}: square Linear {2 * r / h:.2%}, block {1.5 * r / h:.4%}")

# %% [markdown] lang="en"
# ## Checkpoint sizes on disk
#
# The shipped base is 103,680 float32 values plus a small safetensors header; an adapter holds only
# A and B.

# %% [markdown] lang="es"
# ## Tamaños de checkpoint en disco
#
# El modelo base del paquete son 103,680 valores float32 más una pequeña cabecera safetensors; un
# adaptador guarda solo A y B.

# %%
print(f"base: {base_path().stat().st_size:,} bytes on disk for {4 * total:,} bytes of float32 tensors")
with tempfile.TemporaryDirectory() as tmp:
    for r in (4, 8, 16):
        size = (save_adapter(wrap_minigpt_with_lora(MiniGPT(), r=r), Path(tmp) / f"r{r}") / "adapter.safetensors").stat().st_size
        print(f"r={r:>2}: adapter file {size:,} bytes for {4 * 2304 * r:,} bytes of float32 tensors "
              f"({size / base_path().stat().st_size:.1%} of the base file)")

# %% [markdown] lang="en"
# ## LLaMA-7B, by arithmetic
#
# LoRA with r = 8 on `q_proj` and `v_proj` of the 32 layers of LLaMA-7B (h = 4096), as in peft's
# documentation.

# %% [markdown] lang="es"
# ## LLaMA-7B, con aritmética
#
# LoRA con r = 8 en `q_proj` y `v_proj` de las 32 capas de LLaMA-7B (h = 4096), como en la
# documentación de peft.

# %%
llama_params, h, layers, r = 6_738_415_616, 4096, 32, 8
lora = 2 * layers * r * (h + h)
print(f"trainable params: {lora:,} || all params: {llama_params + lora:,} || trainable%: {100 * lora / (llama_params + lora):.4f}")
