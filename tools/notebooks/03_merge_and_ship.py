# %% [markdown] lang="en"
# # Lab 03 — Merge and ship an adapter
#
# Train a rank-8 adapter, merge it for inference (same outputs, one matmul per layer), save it as a
# small safetensors file, load it into a fresh base, and swap adapters on one base.

# %% [markdown] lang="es"
# # Laboratorio 03 — Fusionar y distribuir un adaptador
#
# Entrena un adaptador de rango 8, fusiónalo para inferencia (mismas salidas, una multiplicación de
# matrices por capa), guárdalo como un pequeño archivo safetensors, cárgalo en un modelo base nuevo e
# intercambia adaptadores sobre un mismo modelo base.

# %%
import tempfile
import time
from pathlib import Path

import torch

from minituner import LoRALinear, load_adapter, load_base, load_lora_state_dict, lora_state_dict, save_adapter
from minituner.evaluate import accuracy, generate
from minituner.figures import check
from minituner.grammar import make_splits
from minituner.recipes import FinetuneConfig, finetune
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine
splits = make_splits()
tuned = finetune(load_base(), FinetuneConfig(r=8), splits, progress=False).model.eval()
print(check("lora.r8.irregular", accuracy(tuned, splits.irregular)))

# %% [markdown] lang="en"
# ## Merge for inference
#
# After `merge_()` each layer computes `base(x)` with W + (α/r)·B·A folded in: the same outputs, and
# no extra matmuls.

# %% [markdown] lang="es"
# ## Fusionar para inferencia
#
# Tras `merge_()` cada capa calcula `base(x)` con W + (α/r)·B·A ya incorporado: las mismas salidas,
# sin multiplicaciones extra.

# %%
tokens = torch.randint(1, 45, (512, 24))
layers = [m for m in tuned.modules() if isinstance(m, LoRALinear)]


def best_of(fn, repeats=20):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


with torch.no_grad():
    before = tuned(tokens)
    unmerged_accuracy = accuracy(tuned, splits.irregular)
    unmerged_time = best_of(lambda: tuned(tokens))
    for layer in layers:
        layer.merge_()
    after = tuned(tokens)
    merged_time = best_of(lambda: tuned(tokens))
relative = ((after - before).abs().max() / before.abs().max()).item()
same_answers = torch.equal(after.argmax(-1), before.argmax(-1))
# Each layer agrees within 1e-5 (lab 00); through two blocks and their LayerNorms the rounding
# differences add up, so compare the whole model relative to the size of its logits.
print(f"max |merged - unmerged| / max |logit| below 1e-4: {relative < 1e-4}; same greedy tokens: {same_answers}")
print(f"forward of 512 prompts: unmerged {1000 * unmerged_time:.1f} ms, merged {1000 * merged_time:.1f} ms")
print("merged accuracy equals unmerged accuracy:", accuracy(tuned, splits.irregular) == unmerged_accuracy)
for layer in layers:
    layer.unmerge_()

# %% [markdown] lang="en"
# ## Ship the adapter
#
# Only A and B go into the file, with a small JSON config: compare the size with theory 05's table
# (r = 8: 18,432 parameters, 73,728 bytes in float32).

# %% [markdown] lang="es"
# ## Distribuir el adaptador
#
# En el archivo solo van A y B, con una pequeña configuración JSON: compara el tamaño con la tabla de
# la teoría 05 (r = 8: 18,432 parámetros, 73,728 bytes en float32).

# %%
folder = Path(tempfile.mkdtemp()) / "irregular-r8"
save_adapter(tuned, folder)
for f in sorted(folder.iterdir()):
    print(f"{f.name:<24} {f.stat().st_size:>7,} bytes")
print((folder / "minituner_config.json").read_text())

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
# What a trained adapter writes depends on training, which rounds differently on another CPU.
irregular = lora_state_dict(fresh)
untrained = {k: (torch.zeros_like(v) if k.endswith("lora_B") else v) for k, v in irregular.items()}
swaps = {}
for name, adapter in [("irregular", irregular), ("untrained", untrained), ("irregular again", irregular)]:
    load_lora_state_dict(fresh, adapter)
    answers = generate(fresh, ["tener P1=", "hacer T3=", "ir P1="])
    swaps[name] = accuracy(fresh, splits.irregular)
    print(f"{name:<16} adapter: {answers}, irregular accuracy {swaps[name]:.1%}")

# %%
base_accuracy = accuracy(load_base(), splits.irregular)
print("untrained adapter gives the base model's accuracy:", swaps["untrained"] == base_accuracy)
print("swapping back gives the tuned accuracy again:", swaps["irregular again"] == unmerged_accuracy)
