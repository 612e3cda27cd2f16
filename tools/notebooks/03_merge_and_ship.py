# %% [markdown] lang="en"
# # Lab 03 — Merge and ship an adapter
#
# You take a trained rank-8 adapter, merge it for inference (same answers, one matmul per layer),
# time a forward pass merged and unmerged, save it as a small safetensors file, load it into a fresh
# base, and swap adapters on one base.
#
# This notebook is a workbook: you write three small pieces yourself. Fill in the code between
# `### BEGIN SOLUTION` and `### END SOLUTION`, then run the **check cell** below it (the one that
# starts with `# Check`): it prints `✓` and the check's name when your code is right, and otherwise
# tells you what is wrong and gives a hint. Do not edit the check cells. Before each experiment a
# **Your prediction** cell asks what you expect: write your answer there first, then run the
# measurement. The page of this lab is `lab/03-merge-and-ship.md`.
#
# This lab does not train. The adapter comes with the package: it is exactly what
# `minituner finetune --r 8 --save DIR` writes, the recipe of lab 02 at rank 8 (`seed=0`), shipped
# so that you can spend this lab on merging and shipping instead of waiting for a training run.

# %% [markdown] lang="es"
# # Laboratorio 03 — Fusionar y publicar un adaptador
#
# Tomas un adaptador de rango 8 ya entrenado, lo fusionas para inferencia (mismas respuestas, una
# multiplicación de matrices por capa), mides el tiempo de una pasada hacia delante con y sin fusión,
# lo guardas como un pequeño archivo safetensors, lo cargas en un modelo base nuevo e intercambias
# adaptadores sobre un mismo modelo base.
#
# Este cuaderno es un cuaderno de trabajo: escribes tú mismo tres piezas pequeñas. Completa el código
# entre `### BEGIN SOLUTION` y `### END SOLUTION` y ejecuta la **celda de comprobación** que hay
# debajo (la que empieza por `# Check`): imprime `✓` y el nombre de la comprobación cuando tu código
# es correcto y, si no, te dice qué falla y te da una pista. No edites las celdas de comprobación.
# Antes de cada experimento, una celda **Tu predicción** te pregunta qué esperas: escribe primero tu
# respuesta ahí y después ejecuta la medida. La página de este laboratorio es
# `lab/03-merge-and-ship.es.md`.
#
# En este laboratorio no se entrena. El adaptador viene con el paquete: es exactamente lo que escribe
# `minituner finetune --r 8 --save DIR`, la receta del laboratorio 02 con rango 8 (`seed=0`), incluido
# para que dediques el laboratorio a fusionar y publicar en vez de esperar a un entrenamiento.

# %%
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from minituner import (
    LoRALinear,
    figures,
    load_adapter,
    load_base,
    load_lora_state_dict,
    lora_state_dict,
    save_adapter,
    wrap_minigpt_with_lora,
)
from minituner.checkpoint import shipped_adapter
from minituner.course.checks import check
from minituner.evaluate import accuracy, generate, predict
from minituner.grammar import make_splits
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine
splits = make_splits()
tuned = load_adapter(load_base(), shipped_adapter()).eval()  # the base, wrapped at r=8, adapter loaded
print(figures.compare("lora.r8.irregular", accuracy(tuned, splits.irregular)))

# %% [markdown] lang="en"
# ## Exercise 1 — merge and unmerge a layer
#
# A minituner `LoRALinear` computes `base(x) + scaling · B·(A·x)`, with `layer.base` an `nn.Linear`,
# `layer.lora_A` (r × in), `layer.lora_B` (out × r), the number `layer.scaling` (α/r) and the flag
# `layer.merged`. Its `forward` already skips the adapter branch when `merged` is True, so you only
# handle the weight and the flag:
#
# - `merge(layer)` adds ΔW = `scaling * (lora_B @ lora_A)` to `layer.base.weight`, in place and under
#   `torch.no_grad()` (the weight is a parameter: the addition must not be recorded for autograd),
#   then sets `layer.merged = True`. A second `merge` on a merged layer does nothing: adding ΔW twice
#   would change the model.
# - `unmerge(layer)` subtracts the same ΔW and sets `layer.merged = False`; on a layer that is not
#   merged it does nothing.
#
# Both return `None`. Do not call minituner's `merge_()` / `unmerge_()`, and do not touch `lora_A`
# or `lora_B`: they stay, so that unmerging can compute ΔW again.

# %% [markdown] lang="es"
# ## Ejercicio 1 — fusionar una capa y deshacer la fusión
#
# Una `LoRALinear` de minituner calcula `base(x) + scaling · B·(A·x)`, con `layer.base` un
# `nn.Linear`, `layer.lora_A` (r × in), `layer.lora_B` (out × r), el número `layer.scaling` (α/r) y el
# indicador `layer.merged`. Su `forward` ya se salta la rama del adaptador cuando `merged` es True, así
# que solo te ocupas del peso y del indicador:
#
# - `merge(layer)` suma ΔW = `scaling * (lora_B @ lora_A)` a `layer.base.weight`, en su sitio y
#   dentro de `torch.no_grad()` (el peso es un parámetro: autograd no debe registrar la suma), y
#   después pone `layer.merged = True`. Un segundo `merge` sobre una capa ya fusionada no hace nada:
#   sumar ΔW dos veces cambiaría el modelo.
# - `unmerge(layer)` resta el mismo ΔW y pone `layer.merged = False`; sobre una capa sin fusionar no
#   hace nada.
#
# Las dos devuelven `None`. No llames a `merge_()` / `unmerge_()` de minituner, y no toques `lora_A`
# ni `lora_B`: se quedan, para que deshacer la fusión pueda volver a calcular ΔW.

# %%
def merge(layer: LoRALinear) -> None:
    """Fold ΔW = scaling · B·A into layer.base.weight, once, and set layer.merged = True."""
    ### BEGIN SOLUTION
    if layer.merged:
        return
    with torch.no_grad():
        layer.base.weight += layer.scaling * (layer.lora_B @ layer.lora_A)
    layer.merged = True
    ### END SOLUTION


def unmerge(layer: LoRALinear) -> None:
    """Take ΔW = scaling · B·A back out of layer.base.weight and set layer.merged = False."""
    ### BEGIN SOLUTION
    if not layer.merged:
        return
    with torch.no_grad():
        layer.base.weight -= layer.scaling * (layer.lora_B @ layer.lora_A)
    layer.merged = False
    ### END SOLUTION

# %%
# Check 03.merge: merging keeps a layer's outputs, happens once, and unmerging restores the weight
check("03.merge", (merge, unmerge))

# %% [markdown] lang="en"
# ## Merge for inference
#
# After your `merge` each layer computes `base(x)` with W + (α/r)·B·A folded in: the same function,
# and no extra matmuls. The cell merges every `LoRALinear` of the tuned model with your `merge`.

# %% [markdown] lang="es"
# ## Fusionar para inferencia
#
# Tras tu `merge` cada capa calcula `base(x)` con W + (α/r)·B·A ya incorporado: la misma función, sin
# multiplicaciones extra. La celda fusiona cada `LoRALinear` del modelo ajustado con tu `merge`.

# %% [markdown] lang="en"
# <!-- prediction: 03.merge_outputs -->
# **Your prediction.** Your `merge` is about to fold the adapter into all 12 wrapped Linears of the
# tuned model. Will the logits on 512 random prompts be exactly the same as before, bit for bit?
# Will the greedy answers on the 120 irregular cells change?
#
# <!-- BEGIN ANSWER -->
# A common prediction: the logits stay exactly the same, bit for bit, because
# (W + s·BA)·x = W·x + s·B·(A·x) is the same sum; so the answers cannot change either.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 03.merge_outputs -->
# **Tu predicción.** Tu `merge` va a incorporar el adaptador a los 12 Linear envueltos del modelo
# ajustado. ¿Serán los logits de 512 prompts aleatorios exactamente los mismos que antes, bit a bit?
# ¿Cambiarán las respuestas voraces en las 120 celdas irregulares?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: los logits quedan exactamente iguales, bit a bit, porque
# (W + s·BA)·x = W·x + s·B·(A·x) es la misma suma; así que las respuestas tampoco pueden cambiar.
# <!-- END ANSWER -->

# %%
tokens = torch.randint(1, 45, (512, 24))
layers = [m for m in tuned.modules() if isinstance(m, LoRALinear)]
with torch.no_grad():
    before = tuned(tokens)
    unmerged_answers = predict(tuned, splits.irregular)
    unmerged_accuracy = accuracy(tuned, splits.irregular)
    for layer in layers:
        merge(layer)
    after = tuned(tokens)
print(f"merged layers: {sum(layer.merged for layer in layers)} of {len(layers)}")
print("logits bit for bit the same:", torch.equal(after, before))
relative = ((after - before).abs().max() / before.abs().max()).item()
same_answers = torch.equal(after.argmax(-1), before.argmax(-1))
# Each layer agrees within 1e-5 (lab 00); through two blocks and their LayerNorms the rounding
# differences add up, so compare the whole model relative to the size of its logits.
print(f"max |merged - unmerged| / max |logit| below 1e-4: {relative < 1e-4}; same greedy tokens: {same_answers}")
print("same answers on the 120 irregular cells:", predict(tuned, splits.irregular) == unmerged_answers)
print("merged accuracy equals unmerged accuracy:", accuracy(tuned, splits.irregular) == unmerged_accuracy)

# %% [markdown] lang="en"
# Float addition is not associative: (W + s·BA)·x is rounded at other places than W·x + s·B·(A·x),
# so the last bits of the logits move. Relative to the logits' size the difference is tiny, and no
# greedy answer changes: the merged model is the same model.

# %% [markdown] lang="es"
# La suma en coma flotante no es asociativa: (W + s·BA)·x se redondea en otros puntos que
# W·x + s·B·(A·x), así que los últimos bits de los logits se mueven. En relación con el tamaño de los
# logits la diferencia es minúscula, y ninguna respuesta voraz cambia: el modelo fusionado es el mismo
# modelo.

# %% [markdown] lang="en"
# ## Exercise 2 — time a forward pass
#
# Write `time_forward(model, tokens)`: the seconds that one forward pass `model(tokens)` takes, as a
# Python `float`. Measure with `time.perf_counter()` (a clock meant for short intervals, unlike
# `time.time()`), run under `torch.no_grad()` (serving builds no autograd graph), do one untimed
# warm-up pass, and return the best of `repeats` timed passes: the minimum is the run least
# disturbed by whatever else the machine is doing. Do not return milliseconds, a list, or the total
# of all the repeats. The check runs your function on a model of its own, whose passes take times
# that it knows, with a `repeats` of its own.

# %% [markdown] lang="es"
# ## Ejercicio 2 — medir una pasada hacia delante
#
# Escribe `time_forward(model, tokens)`: los segundos que tarda una pasada hacia delante
# `model(tokens)`, como un `float` de Python. Mide con `time.perf_counter()` (un reloj pensado para
# intervalos cortos, a diferencia de `time.time()`), ejecuta dentro de `torch.no_grad()` (al servir no
# se construye grafo de autograd), haz una pasada de calentamiento sin medir y devuelve la mejor de
# `repeats` pasadas medidas: el mínimo es la ejecución menos perturbada por lo que sea que esté
# haciendo la máquina. No devuelvas milisegundos, ni una lista, ni el total de todas las repeticiones.
# La comprobación ejecuta tu función sobre un modelo propio, cuyas pasadas tardan tiempos que ella
# conoce, con un `repeats` propio.

# %%
def time_forward(model: nn.Module, tokens: torch.Tensor, repeats: int = 5) -> float:
    """Seconds of one forward pass of `model` on `tokens`: the best of `repeats`, after a warm-up."""
    ### BEGIN SOLUTION
    times = []
    with torch.no_grad():
        model(tokens)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(tokens)
            times.append(time.perf_counter() - start)
    return min(times)
    ### END SOLUTION

# %%
# Check 03.timing: your time_forward on a model whose passes take times the check knows
check("03.timing", time_forward)

# %% [markdown] lang="en"
# ## Merged against unmerged: the latency
#
# Your `time_forward` times the base, the merged model and, after your `unmerge` on every layer, the
# unmerged one, each on the same 512 prompts; then your `merge` again, for three rounds, and the best
# time of each is kept. Your times are your machine's: only their order matters.

# %% [markdown] lang="es"
# ## Fusionado frente a sin fusionar: la latencia
#
# Tu `time_forward` mide el modelo base, el modelo fusionado y, tras tu `unmerge` en cada capa, el
# modelo sin fusionar, cada uno con los mismos 512 prompts; luego otra vez tu `merge`, durante tres
# rondas, y se queda el mejor tiempo de cada uno. Tus tiempos son los de tu máquina: solo importa su
# orden.

# %% [markdown] lang="en"
# <!-- prediction: 03.merged_speed -->
# **Your prediction.** The tuned model is merged now. Will a forward pass of 512 prompts be faster,
# slower or as fast as the same model unmerged? And compared with the plain base model? Say why.
#
# <!-- BEGIN ANSWER -->
# A common prediction: all about the same, because merging does not remove anything: A and B are
# still in the model, so it holds as many numbers as before and does as much work.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 03.merged_speed -->
# **Tu predicción.** El modelo ajustado está fusionado. ¿Será una pasada hacia delante de 512
# prompts más rápida, más lenta o igual de rápida que la del mismo modelo sin fusionar? ¿Y frente al
# modelo base sin adaptar? Di por qué.
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: más o menos igual en los tres casos, porque fusionar no quita nada: A y B
# siguen en el modelo, así que guarda tantos números como antes y hace el mismo trabajo.
# <!-- END ANSWER -->

# %%
# NBVAL_IGNORE_OUTPUT
# Wall-clock times: they differ between machines and between runs.
plain = load_base().eval()
best = {"base": float("inf"), "merged": float("inf"), "unmerged": float("inf")}
for _ in range(3):  # take turns, so that a busy moment of the machine slows all three alike
    best["base"] = min(best["base"], time_forward(plain, tokens, repeats=3))
    best["merged"] = min(best["merged"], time_forward(tuned, tokens, repeats=3))  # merged by your merge
    for layer in layers:
        unmerge(layer)
    best["unmerged"] = min(best["unmerged"], time_forward(tuned, tokens, repeats=3))
    for layer in layers:
        merge(layer)
for layer in layers:
    unmerge(layer)  # leave the model unmerged: its adapter is saved and swapped below
print("forward of 512 prompts:", ", ".join(f"{name} {1000 * t:.1f} ms" for name, t in best.items()))
print(f"unmerged / merged: {best['unmerged'] / best['merged']:.2f}")

# %% [markdown] lang="en"
# Merging removes work, not numbers: A and B are still in the model, but a merged layer no longer
# uses them. It does one matrix product, like the base; an unmerged one adds two thin ones (x·Aᵀ,
# then ·Bᵀ) and an addition, in each of the 12 wrapped Linears. That is LoRA's "zero extra latency":
# merged, the model serves at what the base costs. Your `unmerge` has taken ΔW back out: the next
# cell checks that the model is the unmerged one again, ready to be saved and swapped.

# %% [markdown] lang="es"
# Fusionar quita trabajo, no números: A y B siguen en el modelo, pero una capa fusionada ya no los
# usa. Hace un solo producto de matrices, como el modelo base; una sin fusionar añade dos productos
# delgados (x·Aᵀ y luego ·Bᵀ) y una suma, en cada uno de los 12 Linear envueltos. Esa es la "latencia
# extra cero" de LoRA: fusionado, el modelo sirve a lo que cuesta el modelo base. Tu `unmerge` ha
# vuelto a sacar ΔW: la celda siguiente comprueba que el modelo vuelve a ser el modelo sin fusionar,
# listo para guardarlo e intercambiarlo.

# %%
with torch.no_grad():
    back = ((tuned(tokens) - before).abs().max() / before.abs().max()).item()
print(f"after your unmerge, merged layers left: {sum(layer.merged for layer in layers)}; "
      f"max |logits - unmerged logits| / max |logit| below 1e-4: {back < 1e-4}")

# %% [markdown] lang="en"
# ## Exercise 3 — save and load the adapter
#
# Only A and B need to travel: the base is already on the other side. Write
#
# - `save(model, folder)`: write `lora_state_dict(model)` (every `lora_A` and `lora_B`, nothing else)
#   with safetensors' `save_file` to a file `adapter.safetensors` in `folder` (create the folder if
#   it does not exist);
# - `load(model, folder)`: read that file with `load_file` and copy it into `model` with
#   `load_lora_state_dict`. `model` is already wrapped with the same rank and targets; `load` does not
#   wrap it.
#
# Both return `None`. Never `torch.save` or pickle: a pickle can run code when it is loaded, a
# safetensors file is only tensors. Do not save the whole `state_dict()`: the base's weights are
# not part of the adapter.

# %% [markdown] lang="es"
# ## Ejercicio 3 — guardar y cargar el adaptador
#
# Solo A y B necesitan viajar: el modelo base ya está al otro lado. Escribe
#
# - `save(model, folder)`: escribe `lora_state_dict(model)` (cada `lora_A` y `lora_B`, nada más) con
#   `save_file` de safetensors en un archivo `adapter.safetensors` dentro de `folder` (crea la carpeta
#   si no existe);
# - `load(model, folder)`: lee ese archivo con `load_file` y cópialo en `model` con
#   `load_lora_state_dict`. `model` ya está envuelto con el mismo rango y los mismos objetivos; `load`
#   no lo envuelve.
#
# Las dos devuelven `None`. Nunca `torch.save` ni pickle: un pickle puede ejecutar código al cargarse,
# un archivo safetensors solo contiene tensores. No guardes el `state_dict()` entero: los pesos del
# modelo base no forman parte del adaptador.

# %%
def save(model: nn.Module, folder: Path) -> None:
    """Write the adapter of `model` (A and B only) to folder / "adapter.safetensors"."""
    ### BEGIN SOLUTION
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora_state_dict(model), str(folder / "adapter.safetensors"))
    ### END SOLUTION


def load(model: nn.Module, folder: Path) -> None:
    """Copy the adapter in folder / "adapter.safetensors" into `model`, already wrapped."""
    ### BEGIN SOLUTION
    load_lora_state_dict(model, load_file(str(folder / "adapter.safetensors")))
    ### END SOLUTION

# %%
# Check 03.save_load: only lora_A and lora_B go to adapter.safetensors, and come back into another model
check("03.save_load", (save, load))

# %% [markdown] lang="en"
# ## Ship the adapter with your `save`
#
# Your `save` writes the tuned model's adapter; your `load` puts it into a fresh base that you wrap
# at rank 8 yourself, which must then give the tuned model's logits.

# %% [markdown] lang="es"
# ## Publicar el adaptador con tu `save`
#
# Tu `save` escribe el adaptador del modelo ajustado; tu `load` lo pone en un modelo base nuevo que
# envuelves tú con rango 8, que entonces debe dar los logits del modelo ajustado.

# %% [markdown] lang="en"
# <!-- prediction: 03.adapter_size -->
# **Your prediction.** The rank-8 adapter has 18,432 numbers (theory 05). How many bytes will your
# `adapter.safetensors` take on disk?
#
# <!-- BEGIN ANSWER -->
# A common prediction: 36,864 bytes, theory 05's figure at r = 8.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 03.adapter_size -->
# **Tu predicción.** El adaptador de rango 8 tiene 18 432 números (teoría 05). ¿Cuántos bytes ocupará
# en disco tu `adapter.safetensors`?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: 36 864 bytes, la cifra de la teoría 05 para r = 8.
# <!-- END ANSWER -->

# %%
mine = Path(tempfile.mkdtemp()) / "mine"
save(tuned, mine)
for f in sorted(mine.iterdir()):
    print(f"{f.name:<24} {f.stat().st_size:>7,} bytes")
adapter = lora_state_dict(tuned)
tensor_bytes = sum(t.numel() * t.element_size() for t in adapter.values())
print(f"{len(adapter)} tensors, {sum(t.numel() for t in adapter.values()):,} numbers, {tensor_bytes:,} bytes "
      f"in float32; header {(mine / 'adapter.safetensors').stat().st_size - tensor_bytes:,} bytes")
loaded = wrap_minigpt_with_lora(load_base(), r=8).eval()
load(loaded, mine)
with torch.no_grad():
    print("base + your load, max |loaded - tuned| logits:", (loaded(tokens) - before).abs().max().item())

# %% [markdown] lang="en"
# Compare with theory 05's table: at r = 8, 18,432 parameters are 73,728 bytes in float32, which is
# what minituner saves; theory 05's 36,864 bytes are the float16 column. The rest of the file is the
# safetensors header, a small JSON text that names each tensor with its dtype, shape and offset.

# %% [markdown] lang="es"
# Compara con la tabla de la teoría 05: con r = 8, 18 432 parámetros son 73 728 bytes en float32, que
# es como guarda minituner; los 36 864 bytes de la teoría 05 son la columna de float16. El resto del
# archivo es la cabecera de safetensors, un pequeño texto JSON que nombra cada tensor con su tipo,
# su forma y su posición.

# %% [markdown] lang="en"
# ## What ships: `save_adapter`, with its config
#
# minituner's `save_adapter` writes the same tensors, and beside them a small JSON config (rank,
# alpha, targets) so that the loader knows how to wrap a plain base.

# %% [markdown] lang="es"
# ## Lo que se publica: `save_adapter`, con su configuración
#
# `save_adapter` de minituner escribe los mismos tensores y, a su lado, una pequeña configuración JSON
# (rango, alpha, objetivos) para que quien cargue sepa cómo envolver un modelo base sin adaptar.

# %%
folder = Path(tempfile.mkdtemp()) / "irregular-r8"
save_adapter(tuned, folder)
for f in sorted(folder.iterdir()):
    print(f"{f.name:<24} {f.stat().st_size:>7,} bytes")
print((folder / "minituner_config.json").read_text())
print("same tensors as your file:",
      all(torch.equal(t, load_file(str(mine / "adapter.safetensors"))[k])
          for k, t in load_file(str(folder / "adapter.safetensors")).items()))

# %% [markdown] lang="en"
# ## Load it into a fresh base
#
# `load_adapter` wraps a plain Mini-GPT as the config says, checks every key and shape, then copies.

# %% [markdown] lang="es"
# ## Cargarlo en un modelo base nuevo
#
# `load_adapter` envuelve un Mini-GPT sin adaptar según dice la configuración, comprueba cada clave
# y cada forma y después copia.

# %%
fresh = load_adapter(load_base(), folder).eval()
with torch.no_grad():
    print("max |fresh - tuned before merging| logits:", (fresh(tokens) - before).abs().max().item())
print("fresh base + adapter, same irregular accuracy as the tuned model:",
      accuracy(fresh, splits.irregular) == unmerged_accuracy)

# %% [markdown] lang="en"
# ## Swap adapters on one base
#
# One base in memory, several adapters on disk: swapping is a `load_lora_state_dict`. Here the
# second adapter is an untrained one (B = 0), which gives back the base model's behaviour.

# %% [markdown] lang="es"
# ## Intercambiar adaptadores sobre un modelo base
#
# Un modelo base en memoria y varios adaptadores en disco: intercambiarlos es un
# `load_lora_state_dict`. Aquí el segundo adaptador está sin entrenar (B = 0), lo que devuelve el
# comportamiento del modelo base.

# %%
# NBVAL_IGNORE_OUTPUT
# Accuracies and answers of a trained adapter: an answer can flip on a CPU that rounds a near-tie
# the other way.
irregular = lora_state_dict(fresh)
untrained = {k: (torch.zeros_like(v) if k.endswith("lora_B") else v) for k, v in irregular.items()}
swaps = {}
for name, state in [("irregular", irregular), ("untrained", untrained), ("irregular again", irregular)]:
    load_lora_state_dict(fresh, state)
    answers = generate(fresh, ["tener P1=", "hacer T3=", "ir P1="])
    swaps[name] = accuracy(fresh, splits.irregular)
    print(f"{name:<16} adapter: {answers}, irregular accuracy {swaps[name]:.1%}")

# %%
base_accuracy = accuracy(load_base(), splits.irregular)
print("untrained adapter gives the base model's accuracy:", swaps["untrained"] == base_accuracy)
print("swapping back gives the tuned accuracy again:", swaps["irregular again"] == unmerged_accuracy)
