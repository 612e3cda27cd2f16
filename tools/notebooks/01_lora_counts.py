# %% [markdown] lang="en"
# # Lab 01 — LoRA counts
#
# Every number of theory 02 and 05, measured from the model instead of typed: the parameter
# inventory of Mini-GPT, LoRA's count at every rank, the fractions, the ratios, the checkpoint sizes
# and the break-even rank.
#
# You write the three counting functions yourself, between `### BEGIN SOLUTION` and
# `### END SOLUTION`. The cell of each function ends with a line that tries it on one example; the
# **check cell** after it tests your function on inputs of its own and prints `✓ ID` when it is
# right (do not edit the check cells); the cells after that use your function to print the lab's
# tables. Where a cell asks for **your prediction**, write it in that cell before you run the cells
# below it. The page of this lab is `lab/01-lora-counts.md`.

# %% [markdown] lang="es"
# # Laboratorio 01 — Conteos de LoRA
#
# Cada número de la teoría 02 y 05, medido en el modelo en lugar de escrito a mano: el inventario de
# parámetros de Mini-GPT, el conteo de LoRA para cada rango, las fracciones, las razones, los tamaños
# de checkpoint y el rango de equilibrio.
#
# Las tres funciones de conteo las escribes tú, entre `### BEGIN SOLUTION` y `### END SOLUTION`. La
# celda de cada función termina con una línea que la prueba con un ejemplo; la **celda de
# comprobación** que viene después prueba tu función con entradas propias e imprime `✓ ID` cuando es
# correcta (no edites las celdas de comprobación); las celdas siguientes usan tu función para
# imprimir las tablas del laboratorio. Donde una celda te pida **tu predicción**, escríbela en esa
# celda antes de ejecutar las de debajo. La página de este laboratorio es `lab/01-lora-counts.es.md`.

# %%
import math
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
from minituner.course.checks import check
from minituner.model import parameter_inventory
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine
model = MiniGPT()  # the counts do not depend on the weights: a random model will do
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["fc1", "fc2"]
TARGETS = ATTENTION + MLP  # minituner's default: all 12 Linears of Mini-GPT

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
linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
weights = sum(m.weight.numel() for m in linears.values())
biases = sum(m.bias.numel() for m in linears.values() if m.bias is not None)
layernorms = sum(p.numel() for m in model.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters())
print(f"\ntotal {total:,} = {weights + biases:,} in {len(linears)} Linears ({weights:,} weights + {biases:,} biases)"
      f" + {model.tok_emb.weight.numel():,} embedding + {layernorms:,} LayerNorm")

# %% [markdown] lang="en"
# ## Exercise 1 — LoRA on one Linear
#
# LoRA leaves the weight of an `nn.Linear(d_in, d_out)` frozen and adds two trainable matrices:
# A (r × d_in) and B (d_out × r). Write `lora_params_per_linear(d_in, d_out, r)`: it takes the
# layer's two sizes and the rank, all `int`, and returns the number of trainable parameters LoRA
# adds to that layer, as an `int`.
#
# Use only the three numbers: do not build a layer or a model. Count A and B and nothing else: the
# frozen weight and the bias are not LoRA's, and the scaling α/r is a constant, not a parameter.

# %% [markdown] lang="es"
# ## Ejercicio 1 — LoRA en una Linear
#
# LoRA deja congelado el peso de un `nn.Linear(d_in, d_out)` y le añade dos matrices entrenables:
# A (r × d_in) y B (d_out × r). Escribe `lora_params_per_linear(d_in, d_out, r)`: recibe los dos
# tamaños de la capa y el rango, todos `int`, y devuelve cuántos parámetros entrenables añade LoRA a
# esa capa, como `int`.
#
# Usa solo los tres números: no construyas una capa ni un modelo. Cuenta A y B y nada más: el peso
# congelado y el sesgo no son de LoRA, y el escalado α/r es una constante, no un parámetro.

# %%
def lora_params_per_linear(d_in: int, d_out: int, r: int) -> int:
    """Trainable parameters LoRA adds to nn.Linear(d_in, d_out) at rank r: A (r × d_in) and B (d_out × r)."""
    ### BEGIN SOLUTION
    return r * (d_in + d_out)
    ### END SOLUTION


print("nn.Linear(64, 64) at r=8:", lora_params_per_linear(64, 64, 8))  # try it on theory 02's example

# %%
# Check 01.per_linear: your count equals a real LoRALinear's trainable parameters, for several shapes and ranks
check("01.per_linear", lora_params_per_linear)

# %% [markdown] lang="en"
# <!-- prediction: 01.r8_total -->
# **Your prediction.** Mini-GPT has 103,680 parameters, its 12 Linears are in the inventory above,
# and LoRA at r = 8 goes on all 12. How many trainable parameters is that, and what fraction of 103,680?
#
# <!-- BEGIN ANSWER -->
# A common prediction: a few thousand, around 1% of the model, since "LoRA trains a tiny fraction
# of the weights".
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 01.r8_total -->
# **Tu predicción.** Mini-GPT tiene 103 680 parámetros, sus 12 Linear están en el inventario de
# arriba, y LoRA con r = 8 se pone en las 12. ¿Cuántos parámetros entrenables son, y qué fracción de 103 680?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: unos pocos miles, alrededor del 1 % del modelo, porque "LoRA entrena una
# fracción diminuta de los pesos".
# <!-- END ANSWER -->

# %%
for name, m in linears.items():
    print(f"{name:<22} in {m.in_features:>3}, out {m.out_features:>3}: "
          f"{lora_params_per_linear(m.in_features, m.out_features, 1):>3}·r")
per_r = sum(lora_params_per_linear(m.in_features, m.out_features, 1) for m in linears.values())
r8 = sum(lora_params_per_linear(m.in_features, m.out_features, 8) for m in linears.values())
print(f"\nall 12 Linears: {per_r:,}·r; at r=8: {r8:,} trainable parameters, {r8 / total:.2%} of {total:,}")

# %% [markdown] lang="en"
# ## Exercise 2 — LoRA on chosen modules
#
# Write `lora_params_for(model, targets, r)`: it takes a model (`nn.Module`), a list of module names
# such as `["q_proj", "v_proj"]` and a rank, and returns the LoRA parameters (`int`) for every
# `nn.Linear` of the model whose dotted name's last part is one of the targets. Use your
# `lora_params_per_linear` for each of them.
#
# Do not wrap the model (`wrap_minigpt_with_lora` changes it in place) and do not call
# `lora_parameter_count`: walk `model.named_modules()`. Compare whole name parts, not substrings:
# `"fc1" in name` would also select a layer called `fc10`.

# %% [markdown] lang="es"
# ## Ejercicio 2 — LoRA en los módulos elegidos
#
# Escribe `lora_params_for(model, targets, r)`: recibe un modelo (`nn.Module`), una lista de nombres
# de módulo como `["q_proj", "v_proj"]` y un rango, y devuelve los parámetros de LoRA (`int`) de cada
# `nn.Linear` del modelo cuya última parte del nombre con puntos sea uno de los objetivos. Usa tu
# `lora_params_per_linear` para cada una.
#
# No envuelvas el modelo (`wrap_minigpt_with_lora` lo modifica en el sitio) ni llames a
# `lora_parameter_count`: recorre `model.named_modules()`. Compara partes enteras del nombre, no
# subcadenas: `"fc1" in name` también elegiría una capa llamada `fc10`.

# %%
def lora_params_for(model: nn.Module, targets: list[str], r: int) -> int:
    """LoRA parameters at rank r for every nn.Linear of `model` whose name's last part is in `targets`."""
    ### BEGIN SOLUTION
    return sum(
        lora_params_per_linear(m.in_features, m.out_features, r)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets
    )
    ### END SOLUTION


print("q_proj of Mini-GPT at r=8:", lora_params_for(model, ["q_proj"], 8))  # try it: two blocks, one q_proj each

# %%
# Check 01.targets: your total equals minituner's lora_parameter_count for several target lists and ranks
check("01.targets", lora_params_for)

# %% [markdown] lang="en"
# ## LoRA's 2304·r, counted two ways
#
# By your `lora_params_for` on the 6 default targets (all 12 Linears), and by wrapping a fresh model
# and counting what requires a gradient. They must agree for every rank from 1 to 64; the table
# shows theory 05's ranks, with the fractions and the adapter's size.

# %% [markdown] lang="es"
# ## Los 2304·r de LoRA, contados de dos maneras
#
# Con tu `lora_params_for` sobre los 6 objetivos por defecto (las 12 Linear), y envolviendo un
# modelo nuevo y contando lo que requiere gradiente. Deben coincidir para cada rango de 1 a 64; la
# tabla muestra los rangos de la teoría 05, con las fracciones y el tamaño del adaptador.

# %%
for r in range(1, 65):
    by_function = lora_params_for(model, TARGETS, r)  # counting never changes the model: one is enough
    by_wrapping, all_params = count_parameters(wrap_minigpt_with_lora(MiniGPT(), r=r))  # a fresh one per wrap
    assert by_function == by_wrapping == lora_parameter_count(model, r) == 2304 * r
    assert all_params == total + by_function
print("by your function = by wrapping = 2304·r, for every r from 1 to 64")
print(f"\n{'r':>3} {'LoRA params':>12} {'of 103,680':>11} {'of Linears':>11} {'fp16 bytes':>11} {'fp32 bytes':>11}")
for r in (1, 2, 4, 8, 16, 32, 64):
    n = lora_params_for(model, TARGETS, r)
    print(f"{r:>3} {n:>12,} {n / total:>11.2%} {n / (weights + biases):>11.2%} {2 * n:>11,} {4 * n:>11,}")

# %%
print(trainable_parameters_report(wrap_minigpt_with_lora(MiniGPT(), r=8)))

# %% [markdown] lang="en"
# <!-- prediction: 01.attention_vs_mlp -->
# **Your prediction.** Attention has 8 of the 12 Linears, the MLP only 4. At the same rank, which
# of the two gets more LoRA parameters, and by how much?
#
# <!-- BEGIN ANSWER -->
# A common prediction: attention, about twice as many as the MLP, since it has twice as many
# Linears.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 01.attention_vs_mlp -->
# **Tu predicción.** La atención tiene 8 de las 12 Linear y el MLP solo 4. Con el mismo rango, ¿cuál
# de las dos recibe más parámetros de LoRA, y cuántos más?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: la atención, unas dos veces más que el MLP, porque tiene el doble de
# Linear.
# <!-- END ANSWER -->

# %%
print(f"{'r':>3} {'attention only':>15} {'MLP only':>9} {'all 12':>8}")
for r in (1, 2, 4, 8, 16, 32, 64):
    attention, mlp = lora_params_for(model, ATTENTION, r), lora_params_for(model, MLP, r)
    assert attention + mlp == lora_params_for(model, TARGETS, r)
    print(f"{r:>3} {attention:>15,} {mlp:>9,} {attention + mlp:>8,}")

# %% [markdown] lang="en"
# ## Ratios: per square Linear and per block
#
# A square h × h Linear gets 2hr LoRA parameters for h² weights (2r/h); a whole block, with four
# h × h projections and an h × 4h MLP, gets 18hr for 12h² weights (1.5·r/h). The block formula holds
# for GPT-style blocks (Mini-GPT, GPT-2 small at h = 768); LLaMA's MLP is a gated SwiGLU with three
# matrices and its own width, so for LLaMA-7B (h = 4096) only the square-Linear ratio is printed.

# %% [markdown] lang="es"
# ## Razones: por Linear cuadrada y por bloque
#
# Una Linear cuadrada h × h recibe 2hr parámetros LoRA por h² pesos (2r/h); un bloque entero, con
# cuatro proyecciones h × h y un MLP h × 4h, recibe 18hr por 12h² pesos (1,5·r/h). La fórmula del
# bloque vale para bloques al estilo GPT (Mini-GPT, GPT-2 small con h = 768); el MLP de LLaMA es una
# SwiGLU con compuerta, de tres matrices y con su propio ancho, así que para LLaMA-7B (h = 4096) solo
# se imprime la razón por Linear cuadrada.

# %%
r = 8
block = model.blocks[0]
square = block.attn.q_proj
block_weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Linear))
block_lora = lora_params_for(block, TARGETS, r)
square_lora = lora_params_per_linear(square.in_features, square.out_features, r)
print(f"square Linear: {square_lora:,} / {square.weight.numel():,} = "
      f"{square_lora / square.weight.numel():.2%} (2r/h = {2 * r / 64:.2%})")
print(f"one block:     {block_lora:,} / {block_weights:,} = {block_lora / block_weights:.2%} (1.5·r/h = {1.5 * r / 64:.2%})")
h = 768  # GPT-2 small: a GPT-style block, so 1.5·r/h holds
block_h = (4 * lora_params_per_linear(h, h, r) + lora_params_per_linear(h, 4 * h, r)
           + lora_params_per_linear(4 * h, h, r)) / (12 * h**2)
print(f"h={h} (GPT-2 small): square Linear {lora_params_per_linear(h, h, r) / h**2:.2%}, block {block_h:.4%}")
h = 4096  # LLaMA-7B: a SwiGLU MLP, so only the square projections follow 2r/h
print(f"h={h} (LLaMA-7B): square Linear {lora_params_per_linear(h, h, r) / h**2:.2%}")

# %% [markdown] lang="en"
# ## Checkpoint sizes on disk
#
# The shipped base is 103,680 float32 values plus a small safetensors header; an adapter holds only
# A and B.

# %% [markdown] lang="es"
# ## Tamaños de checkpoint en disco
#
# El modelo base del paquete son 103 680 valores float32 más una pequeña cabecera safetensors; un
# adaptador guarda solo A y B.

# %%
print(f"base: {base_path().stat().st_size:,} bytes on disk for {4 * total:,} bytes of float32 tensors")
with tempfile.TemporaryDirectory() as tmp:
    for r in (4, 8, 16):
        size = (save_adapter(wrap_minigpt_with_lora(MiniGPT(), r=r), Path(tmp) / f"r{r}") / "adapter.safetensors").stat().st_size
        print(f"r={r:>2}: adapter file {size:,} bytes for {4 * lora_params_for(model, TARGETS, r):,} bytes of float32 tensors "
              f"({size / base_path().stat().st_size:.1%} of the base file)")

# %% [markdown] lang="en"
# ## LLaMA-7B, by arithmetic
#
# LoRA with r = 8 on `q_proj` and `v_proj` of the 32 layers of LLaMA-7B (h = 4096), as in peft's
# documentation: your per-Linear count, twice per layer.

# %% [markdown] lang="es"
# ## LLaMA-7B, con aritmética
#
# LoRA con r = 8 en `q_proj` y `v_proj` de las 32 capas de LLaMA-7B (h = 4096), como en la
# documentación de peft: tu conteo por Linear, dos veces por capa.

# %%
llama_params, h, layers, r = 6_738_415_616, 4096, 32, 8
lora = 2 * layers * lora_params_per_linear(h, h, r)
print(f"trainable params: {lora:,} || all params: {llama_params + lora:,} || trainable%: {100 * lora / (llama_params + lora):.4f}")

# %% [markdown] lang="en"
# <!-- prediction: 01.break_even -->
# **Your prediction.** Before you write the next function: at what rank does LoRA on one 64 × 64
# Linear have as many parameters as the 4,096 weights it adapts?
#
# <!-- BEGIN ANSWER -->
# A common prediction: r = 64, the full width of the layer.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 01.break_even -->
# **Tu predicción.** Antes de escribir la siguiente función: ¿con qué rango tiene LoRA en una Linear
# de 64 × 64 tantos parámetros como los 4096 pesos que adapta?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: r = 64, el ancho completo de la capa.
# <!-- END ANSWER -->

# %% [markdown] lang="en"
# ## Exercise 3 — The break-even rank
#
# Write `break_even_rank(d_in, d_out)`: it takes the two sizes of an `nn.Linear(d_in, d_out)` and
# returns, as an `int`, the smallest rank r at which LoRA's r·(d_in + d_out) is at least the
# d_in·d_out weights it adapts: from that rank on, LoRA no longer saves parameters on that layer.
#
# Round up, never down or to the nearest: for a 64 × 256 layer in·out / (in + out) is 51.2, and the
# answer is 52, not the 51 that `int()` and `round()` give. Use "at least" (≥), not "more than":
# for a square layer the two counts are equal at the answer. Do not loop over every rank up to
# d_in·d_out; one line of arithmetic does.

# %% [markdown] lang="es"
# ## Ejercicio 3 — El rango de equilibrio
#
# Escribe `break_even_rank(d_in, d_out)`: recibe los dos tamaños de un `nn.Linear(d_in, d_out)` y
# devuelve, como `int`, el menor rango r con el que los r·(d_in + d_out) parámetros de LoRA llegan
# por lo menos a los d_in·d_out pesos que adapta: desde ese rango, LoRA ya no ahorra parámetros en
# esa capa.
#
# Redondea hacia arriba, nunca hacia abajo ni al más cercano: para una capa de 64 × 256,
# in·out / (in + out) es 51,2, y la respuesta es 52, no el 51 que dan `int()` y `round()`. Usa "por
# lo menos" (≥), no "más que": en una capa cuadrada los dos conteos son iguales justo en la
# respuesta. No recorras todos los rangos hasta d_in·d_out; basta una línea de aritmética.

# %%
def break_even_rank(d_in: int, d_out: int) -> int:
    """The smallest rank r with r·(d_in + d_out) >= d_in·d_out: where LoRA stops saving parameters."""
    ### BEGIN SOLUTION
    return math.ceil(d_in * d_out / (d_in + d_out))
    ### END SOLUTION


print("3 -> 5:", break_even_rank(3, 5))  # try it: 3·5 / (3 + 5) = 1.875, so 2

# %%
# Check 01.break_even: your rank is the smallest r with r·(in + out) ≥ in·out, for several shapes
check("01.break_even", break_even_rank)

# %%
for d_in, d_out, where in ((64, 64, "q_proj, k_proj, v_proj, o_proj"), (64, 256, "fc1"), (256, 64, "fc2"),
                           (4096, 4096, "a LLaMA-7B projection")):
    r = break_even_rank(d_in, d_out)
    print(f"{d_in:>4} -> {d_out:<4} ({where}): break-even rank {r:>4}, "
          f"{lora_params_per_linear(d_in, d_out, r):,} LoRA parameters for {d_in * d_out:,} weights")
past = max(break_even_rank(m.in_features, m.out_features) for m in linears.values())
print(f"from r = {past}, LoRA saves nothing on any of Mini-GPT's 12 Linears")
