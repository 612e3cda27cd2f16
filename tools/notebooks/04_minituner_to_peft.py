# %% [markdown] lang="en"
# # Lab 04 — From minituner to Hugging Face PEFT
#
# The same Mini-GPT, wrapped by minituner and by peft: same trainable count, same outputs, same merged
# weights, and adapters that travel both ways on disk. You write the three small pieces that connect
# the two libraries: the renaming of the adapter's keys into peft's file (`to_peft`) and back
# (`from_peft`), and the measure of how far apart two models' outputs are (`max_output_diff`). Each
# exercise ends with a **check cell** that prints `✓ ID` when your function is right, and otherwise
# stops with what is wrong and a hint.
#
# Fill in the cells between `### BEGIN SOLUTION` and `### END SOLUTION`; do not edit the check cells.
# Where a cell says **Your prediction**, write your answer in that cell before you run the cell after
# it. The page of this lab is `lab/04-minituner-to-peft.md`.
#
# This lab does not train. It loads the course's rank-8 adapter, shipped with the package: it is
# exactly what `minituner finetune --r 8 --save DIR` writes (the recipe of lab 02, rank 8, `seed=0`).

# %% [markdown] lang="es"
# # Laboratorio 04 — De minituner a Hugging Face PEFT
#
# El mismo Mini-GPT, envuelto por minituner y por peft: el mismo número de parámetros entrenables,
# las mismas salidas, los mismos pesos fusionados y adaptadores que viajan en ambos sentidos en disco.
# Escribes las tres piezas pequeñas que unen las dos bibliotecas: el cambio de nombre de las claves
# del adaptador al archivo de peft (`to_peft`) y de vuelta (`from_peft`), y la medida de cuánto se
# separan las salidas de dos modelos (`max_output_diff`). Cada ejercicio termina con una **celda de
# comprobación** que imprime `✓ ID` cuando tu función es correcta y, si no, se detiene diciendo qué
# falla y con una pista.
#
# Completa las celdas entre `### BEGIN SOLUTION` y `### END SOLUTION`; no edites las celdas de
# comprobación. Donde una celda diga **Tu predicción**, escribe tu respuesta en esa celda antes de
# ejecutar la siguiente. La página de este laboratorio es `lab/04-minituner-to-peft.es.md`.
#
# Este laboratorio no entrena. Carga el adaptador de rango 8 del curso, que viene con el paquete: es
# exactamente lo que escribe `minituner finetune --r 8 --save DIR` (la receta del laboratorio 02,
# rango 8, `seed=0`).

# %%
import tempfile
from pathlib import Path

import peft
import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import load_file
from torch import Tensor, nn

from minituner import (
    LoRALinear,
    figures,
    load_adapter,
    load_base,
    load_lora_state_dict,
    lora_state_dict,
    trainable_parameters_report,
    wrap_minigpt_with_lora,
)
from minituner.checkpoint import shipped_adapter
from minituner.course.checks import check
from minituner.evaluate import accuracy
from minituner.grammar import make_splits
from minituner.interop import export_peft_adapter, import_peft_adapter, to_peft_state_dict
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine
splits = make_splits()
ours = load_adapter(load_base(), shipped_adapter()).eval()  # lab 02's rank-8 adapter: no training here
ours_accuracy = accuracy(ours, splits.irregular)
print("peft", peft.__version__)
print("minituner:", trainable_parameters_report(ours))
print(figures.compare("lora.r8.irregular", ours_accuracy))

# %% [markdown] lang="en"
# ## The same model, wrapped by peft
#
# `get_peft_model` works on any `nn.Module`: `target_modules` uses the same suffix matching on
# dotted names as `wrap_minigpt_with_lora`. The config is minituner's: r = 8, α = 16 (written out:
# peft's default `lora_alpha` is 8), the six Linears of each block, no dropout.

# %% [markdown] lang="es"
# ## El mismo modelo, envuelto por peft
#
# `get_peft_model` funciona con cualquier `nn.Module`: `target_modules` usa la misma coincidencia por
# sufijo sobre los nombres con puntos que `wrap_minigpt_with_lora`. La configuración es la de
# minituner: r = 8, α = 16 (escrito explícitamente: el `lora_alpha` por defecto de peft es 8), las seis
# Linear de cada bloque, sin dropout.

# %% [markdown] lang="en"
# <!-- prediction: 04.trainable -->
# **Your prediction.** minituner's rank-8 adapter trains 18,432 parameters (2,304·r). How many
# trainable parameters will `print_trainable_parameters()` report for peft's wrapper with the same
# config, and why?
#
# <!-- BEGIN ANSWER -->
# A common prediction: a few more than 18,432, because peft keeps A and B inside whole `nn.Linear`
# modules, and those could bring a bias or some bookkeeping of their own.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 04.trainable -->
# **Tu predicción.** El adaptador de rango 8 de minituner entrena 18 432 parámetros (2304·r).
# ¿Cuántos parámetros entrenables indicará `print_trainable_parameters()` para el envoltorio de peft
# con la misma configuración, y por qué?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: algunos más que 18 432, porque peft guarda A y B dentro de módulos
# `nn.Linear` completos, y estos podrían traer un sesgo o alguna contabilidad propia.
# <!-- END ANSWER -->

# %%
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"]
config = LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, lora_dropout=0.0)
ref = get_peft_model(load_base(), config)
ref.print_trainable_parameters()
print(type(ref.base_model.model.blocks[0].attn.q_proj))
counts = {r: get_peft_model(load_base(), LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS))
          .get_nb_trainable_parameters()[0] for r in (1, 4, 32)}
print("peft's trainable count is 2,304·r for r = 1, 4, 32:", all(n == 2304 * r for r, n in counts.items()))

# %% [markdown] lang="en"
# ## Exercise 1 — minituner's names, peft's names
#
# The two libraries hold the same matrices under other names. minituner's adapter state dict
# (`lora_state_dict(ours)`) has keys such as `blocks.0.attn.q_proj.lora_A`. peft's adapter file
# (`adapter_model.safetensors`) names the same tensor `base_model.model.blocks.0.attn.q_proj.lora_A.weight`:
# `base_model.model.` for peft's two wrappers around your model (`PeftModel`, then `LoraModel`), and
# `.weight` because peft's A is an `nn.Linear` whose weight is the r × in matrix.
#
# Write `to_peft(state)`: it takes a dict from minituner's keys to tensors and returns a **new** dict
# with every key renamed that way and every tensor as it was (no transpose, no reshape). Leave the dict
# you are given unchanged, and do not call `minituner.interop`: it holds the answer.

# %% [markdown] lang="es"
# ## Ejercicio 1 — los nombres de minituner, los nombres de peft
#
# Las dos bibliotecas guardan las mismas matrices con otros nombres. El state dict del adaptador de
# minituner (`lora_state_dict(ours)`) tiene claves como `blocks.0.attn.q_proj.lora_A`. El archivo de
# adaptador de peft (`adapter_model.safetensors`) llama al mismo tensor
# `base_model.model.blocks.0.attn.q_proj.lora_A.weight`: `base_model.model.` por los dos envoltorios
# de peft alrededor de tu modelo (`PeftModel` y después `LoraModel`), y `.weight` porque la A de peft
# es un `nn.Linear` cuyo peso es la matriz r × in.
#
# Escribe `to_peft(state)`: recibe un dict de claves de minituner a tensores y devuelve un dict
# **nuevo** con cada clave renombrada así y cada tensor tal como estaba (sin trasponer ni cambiar su
# forma). No modifiques el dict que recibes, y no llames a `minituner.interop`: ahí está la respuesta.

# %%
def to_peft(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`blocks.0.attn.q_proj.lora_A` -> `base_model.model.blocks.0.attn.q_proj.lora_A.weight`;
    the tensors are unchanged."""
    ### BEGIN SOLUTION
    return {f"base_model.model.{key}.weight": value for key, value in state.items()}
    ### END SOLUTION

# %%
# Check 04.to_peft: every key gets peft's name and every tensor comes through unchanged
check("04.to_peft", to_peft)

# %% [markdown] lang="en"
# Your renaming at work on the shipped adapter: it agrees with `minituner.interop.to_peft_state_dict`
# (which writes the files below), and its keys are the ones peft itself uses:
# `get_peft_model_state_dict(ref)` lists peft's adapter without the adapter name `default`.

# %% [markdown] lang="es"
# Tu cambio de nombres, aplicado al adaptador del paquete: coincide con
# `minituner.interop.to_peft_state_dict` (que escribe los archivos de más abajo), y sus claves son las
# que usa el propio peft: `get_peft_model_state_dict(ref)` enumera el adaptador de peft sin el nombre
# de adaptador `default`.

# %%
peft_state = to_peft(lora_state_dict(ours))
packaged = to_peft_state_dict(lora_state_dict(ours))
print(sorted(peft_state)[:2])
print("same keys and tensors as minituner.interop.to_peft_state_dict:",
      peft_state.keys() == packaged.keys() and all(torch.equal(peft_state[k], packaged[k]) for k in packaged))
print("same keys as peft's own get_peft_model_state_dict:", peft_state.keys() == get_peft_model_state_dict(ref).keys())

# %% [markdown] lang="en"
# ## Exercise 2 — how far apart are two models?
#
# To say that two libraries compute the same thing, run both on the same tokens and look at the worst
# disagreement. Write `max_output_diff(model_a, model_b, tokens)`: call both models on `tokens` (a
# batch of token ids) under `torch.no_grad()`, and return the largest absolute difference between
# their outputs (the logits) as a Python `float`, not a tensor. Do not change the models (no
# `.train()`, no `.eval()`, no merge): measure them as they are given.

# %% [markdown] lang="es"
# ## Ejercicio 2 — ¿cuánto se separan dos modelos?
#
# Para decir que dos bibliotecas calculan lo mismo, ejecuta las dos con los mismos tokens y mira el
# peor desacuerdo. Escribe `max_output_diff(model_a, model_b, tokens)`: llama a los dos modelos con
# `tokens` (un lote de ids de tokens) bajo `torch.no_grad()` y devuelve la mayor diferencia absoluta
# entre sus salidas (los logits) como un `float` de Python, no como un tensor. No cambies los modelos
# (ni `.train()`, ni `.eval()`, ni fusionar): mídelos tal como te llegan.

# %%
def max_output_diff(model_a: nn.Module, model_b: nn.Module, tokens: Tensor) -> float:
    """max |model_a(tokens) - model_b(tokens)| over every logit, as a Python float."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        return (model_a(tokens) - model_b(tokens)).abs().max().item()
    ### END SOLUTION

# %%
# Check 04.parity: the largest absolute difference of two models' logits, as a Python float
check("04.parity", max_output_diff)

# %% [markdown] lang="en"
# ## Copy minituner's A and B into peft
#
# minituner's `lora_A` is peft's `lora_A.default.weight` (r × in), `lora_B` is `lora_B.default.weight`
# (out × r). In memory peft's keys carry the adapter's name, `default`: your `to_peft` keys with
# `.weight` turned into `.default.weight` load straight into `ref`.

# %% [markdown] lang="es"
# ## Copiar A y B de minituner en peft
#
# `lora_A` de minituner es `lora_A.default.weight` de peft (r × in), y `lora_B` es
# `lora_B.default.weight` (out × r). En memoria, las claves de peft llevan el nombre del adaptador,
# `default`: las claves de tu `to_peft`, con `.weight` convertido en `.default.weight`, se cargan
# directamente en `ref`.

# %% [markdown] lang="en"
# <!-- prediction: 04.parity -->
# **Your prediction.** With the same A and B in both, how far apart will the logits of minituner's
# model and peft's be: exactly equal, different only by float32 rounding (around 1e-7), or visibly
# different? Why?
#
# <!-- BEGIN ANSWER -->
# A common prediction: not exactly equal. They are two libraries with two implementations, so the
# float32 operations run in another order and leave differences of about 1e-7.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 04.parity -->
# **Tu predicción.** Con las mismas A y B en los dos, ¿cuánto se separarán los logits del modelo de
# minituner y los del de peft: serán exactamente iguales, distintos solo por el redondeo de float32
# (en torno a 1e-7), o claramente distintos? ¿Por qué?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: no exactamente iguales. Son dos bibliotecas con dos implementaciones, así
# que las operaciones en float32 se hacen en otro orden y dejan diferencias de alrededor de 1e-7.
# <!-- END ANSWER -->

# %%
in_memory = {k.removesuffix(".weight") + ".default.weight": v for k, v in to_peft(lora_state_dict(ours)).items()}
missing, unexpected = ref.load_state_dict(in_memory, strict=False)
assert not unexpected and not [k for k in missing if "lora_" in k]
ref.eval()
tokens = torch.randint(1, 45, (64, 24))
print("max |minituner - peft| logits below 1e-5:", max_output_diff(ours, ref, tokens) < 1e-5)
print("peft model, same irregular accuracy as minituner:", accuracy(ref, splits.irregular) == ours_accuracy)

# %% [markdown] lang="en"
# Compare with your prediction. Both libraries compute base(x) + (α/r)·B(A(x)) with the same float32
# operations in the same order (base Linear, x·Aᵀ, then ·Bᵀ, times the scale, added), so what separates
# them is at most rounding, and often nothing at all. The notebook prints only whether the gap is below
# 1e-5: the rounding itself can differ between machines.

# %% [markdown] lang="es"
# Compara con tu predicción. Las dos bibliotecas calculan base(x) + (α/r)·B(A(x)) con las mismas
# operaciones en float32 y en el mismo orden (la Linear base, x·Aᵀ, después ·Bᵀ, por el escalado, y la
# suma), así que lo que las separa es, como mucho, el redondeo, y a menudo nada en absoluto. El cuaderno
# solo imprime si la diferencia queda por debajo de 1e-5: el redondeo en sí puede cambiar de una máquina
# a otra.

# %% [markdown] lang="en"
# ## Merged weights
#
# peft's `merge_and_unload()` against minituner's `merge_()`: W + (α/r)·B·A in both. peft's merged
# model is a plain Mini-GPT again, with no adapter left: your `max_output_diff` compares it with
# minituner's merged model.

# %% [markdown] lang="es"
# ## Pesos fusionados
#
# `merge_and_unload()` de peft frente a `merge_()` de minituner: W + (α/r)·B·A en ambos. El modelo
# fusionado de peft vuelve a ser un Mini-GPT normal, sin adaptador: tu `max_output_diff` lo compara con
# el modelo fusionado de minituner.

# %%
merged = ref.merge_and_unload()
for m in ours.modules():
    if isinstance(m, LoRALinear):
        m.merge_()
worst = max(
    (m.base.weight - merged.get_submodule(name).weight).abs().max().item()
    for name, m in ours.named_modules() if isinstance(m, LoRALinear)
)
print(f"max |merged weight difference| over the 12 Linears within 1e-6: {worst <= 1e-6}")
print("peft's merged plain Mini-GPT against minituner's merged model, logits below 1e-5:",
      max_output_diff(merged, ours, tokens) < 1e-5)
for m in ours.modules():
    if isinstance(m, LoRALinear):
        m.unmerge_()

# %% [markdown] lang="en"
# ## Exercise 3 — peft's names back to minituner's
#
# Write `from_peft(state)`, the inverse of `to_peft`: it takes a dict with peft's keys
# (`base_model.model.blocks.0.attn.q_proj.lora_A.weight`) and returns a **new** dict with minituner's
# (`blocks.0.attn.q_proj.lora_A`), every tensor as it was. Remove exactly the prefix at the start and
# the `.weight` at the end: `str.replace` would also remove them anywhere else in the key. Again, do
# not call `minituner.interop`.

# %% [markdown] lang="es"
# ## Ejercicio 3 — de los nombres de peft a los de minituner
#
# Escribe `from_peft(state)`, la inversa de `to_peft`: recibe un dict con las claves de peft
# (`base_model.model.blocks.0.attn.q_proj.lora_A.weight`) y devuelve un dict **nuevo** con las de
# minituner (`blocks.0.attn.q_proj.lora_A`), cada tensor tal como estaba. Quita exactamente el prefijo
# del principio y el `.weight` del final: `str.replace` los quitaría también de cualquier otro sitio de
# la clave. De nuevo, no llames a `minituner.interop`.

# %%
def from_peft(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`base_model.model.blocks.0.attn.q_proj.lora_A.weight` -> `blocks.0.attn.q_proj.lora_A`;
    the tensors are unchanged."""
    ### BEGIN SOLUTION
    return {key.removeprefix("base_model.model.").removesuffix(".weight"): value for key, value in state.items()}
    ### END SOLUTION

# %%
# Check 04.from_peft: peft's keys come back to minituner's names, and every tensor comes through unchanged
check("04.from_peft", from_peft)

# %% [markdown] lang="en"
# ## Adapters on disk, both ways
#
# `export_peft_adapter` writes peft's format (adapter_config.json + adapter_model.safetensors, its keys
# renamed as your `to_peft` does); `PeftModel.from_pretrained` loads it onto a plain Mini-GPT. peft's
# own `save_pretrained` output comes back into minituner with your `from_peft`: read peft's
# `adapter_model.safetensors`, rename its keys, and load them with `load_lora_state_dict`, whose key and
# shape checks guard the import. minituner's `import_peft_adapter` does the same, config included.

# %% [markdown] lang="es"
# ## Adaptadores en disco, en ambos sentidos
#
# `export_peft_adapter` escribe el formato de peft (adapter_config.json + adapter_model.safetensors,
# con las claves renombradas como hace tu `to_peft`); `PeftModel.from_pretrained` lo carga sobre un
# Mini-GPT sin adaptar. Lo que guarda el propio `save_pretrained` de peft vuelve a minituner con tu
# `from_peft`: lee el `adapter_model.safetensors` de peft, renombra sus claves y cárgalas con
# `load_lora_state_dict`, cuyas comprobaciones de claves y formas protegen la importación. El
# `import_peft_adapter` de minituner hace lo mismo, configuración incluida.

# %%
folder = Path(tempfile.mkdtemp())
export_peft_adapter(ours, folder / "to-peft")
print(sorted(p.name for p in (folder / "to-peft").iterdir()))
loaded = PeftModel.from_pretrained(load_base(), folder / "to-peft").eval()
print("peft, from minituner's files, same irregular accuracy:", accuracy(loaded, splits.irregular) == ours_accuracy)
loaded.save_pretrained(folder / "from-peft")
back = wrap_minigpt_with_lora(load_base(), r=8, alpha=16.0, target_modules=TARGETS).eval()
load_lora_state_dict(back, from_peft(load_file(str(folder / "from-peft" / "adapter_model.safetensors"))))
print("minituner, from peft's files, same irregular accuracy:", accuracy(back, splits.irregular) == ours_accuracy)
mine, packaged = lora_state_dict(back), lora_state_dict(import_peft_adapter(load_base(), folder / "from-peft"))
print("your from_peft and minituner.interop.import_peft_adapter load the same adapter:",
      mine.keys() == packaged.keys() and all(torch.equal(mine[k], packaged[k]) for k in packaged))

# %% [markdown] lang="en"
# ## What peft adds
#
# Several named adapters on one model, rsLoRA's α/√r scaling, DoRA's magnitude vector, other
# initialisations: all options of `LoraConfig`. Here, their effect on the scale and on the count.

# %% [markdown] lang="es"
# ## Lo que añade peft
#
# Varios adaptadores con nombre sobre un mismo modelo, el escalado α/√r de rsLoRA, el vector de
# magnitud de DoRA, otras inicializaciones: todo son opciones de `LoraConfig`. Aquí, su efecto en el
# escalado y en el número de parámetros.

# %% [markdown] lang="en"
# <!-- prediction: 04.dora -->
# **Your prediction.** DoRA splits each adapted weight into a direction, trained through A and B as in
# LoRA, and a trainable magnitude with one entry per output feature of the layer. At r = 8 on the same
# 12 Linears, how many trainable parameters will DoRA have, against LoRA's 18,432?
#
# <!-- BEGIN ANSWER -->
# A common prediction: about twice as many, some 37,000, because DoRA learns a magnitude on top of
# every low-rank update.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 04.dora -->
# **Tu predicción.** DoRA separa cada peso adaptado en una dirección, entrenada a través de A y B como
# en LoRA, y una magnitud entrenable con una entrada por cada característica de salida de la capa. Con
# r = 8 sobre las mismas 12 Linear, ¿cuántos parámetros entrenables tendrá DoRA, frente a los 18 432 de
# LoRA?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: más o menos el doble, unos 37 000, porque DoRA aprende una magnitud además
# de cada actualización de bajo rango.
# <!-- END ANSWER -->

# %%
for name, extra in [("LoRA", {}), ("rsLoRA", {"use_rslora": True}), ("DoRA", {"use_dora": True})]:
    m = get_peft_model(load_base(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, **extra))
    trainable, _ = m.get_nb_trainable_parameters()
    scale = m.base_model.model.blocks[0].attn.q_proj.scaling["default"]
    print(f"{name:<7} scaling {scale:.4f}  trainable {trainable:,}")
two = get_peft_model(load_base(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
two.add_adapter("other", LoraConfig(r=2, lora_alpha=4, target_modules=TARGETS))
two.set_adapter("other")
print("adapters on one model:", list(two.peft_config), "active:", two.active_adapter)

# %% [markdown] lang="en"
# Compare with your prediction. DoRA's magnitude adds one number per output feature of each wrapped
# Linear, whatever the rank: 64 for each of q, k, v, o and fc2, 256 for fc1, so 576 per block and
# 1,152 for the two blocks, 18,432 + 1,152 = 19,584. rsLoRA changes no count, only the scale: 16/√8
# instead of 16/8.

# %% [markdown] lang="es"
# Compara con tu predicción. La magnitud de DoRA añade un número por cada característica de salida de
# cada Linear envuelta, sea cual sea el rango: 64 para cada una de q, k, v, o y fc2, y 256 para fc1, es
# decir, 576 por bloque y 1152 para los dos bloques: 18 432 + 1152 = 19 584. rsLoRA no cambia ningún
# conteo, solo el escalado: 16/√8 en lugar de 16/8.
