# %% [markdown] lang="en"
# # Theory 03 — The singular values of a real ΔW
#
# LoRA bets that the update a fine-tune needs has low rank. Here we check the bet on Mini-GPT: fully
# fine-tune the base with the course's recipe (the 120 irregular cells, with regular verbs replayed in
# every batch), take ΔW = W_after − W_before of each Linear, and look at its singular values. Then
# compare with a LoRA update ΔW = (α/r)·B·A, whose rank is at most r by construction.

# %% [markdown] lang="es"
# # Teoría 03 — Los valores singulares de un ΔW real
#
# LoRA apuesta a que la actualización que necesita un ajuste fino tiene rango bajo. Aquí comprobamos
# la apuesta en Mini-GPT: ajuste fino completo del modelo base con la receta del curso (las 120
# celdas irregulares, con verbos regulares de repaso en cada lote), ΔW = W_después − W_antes de cada
# Linear, y sus valores singulares. Después comparamos con una actualización LoRA ΔW = (α/r)·B·A,
# cuyo rango es como mucho r por construcción.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from minituner import LoRALinear, load_base
from minituner.figures import compare
from minituner.grammar import make_splits
from minituner.recipes import FinetuneConfig, finetune
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine
splits = make_splits()
before = {n: m.weight.detach().clone() for n, m in load_base().named_modules() if isinstance(m, nn.Linear)}
full = finetune(load_base(), FinetuneConfig(r=None), splits, progress=False)
after = {n: m.weight.detach() for n, m in full.model.named_modules() if isinstance(m, nn.Linear)}
delta = {n: after[n] - before[n] for n in before}
print(compare("full.irregular", full.irregular_accuracy))
print(compare("full.retention", full.retention))

# %% [markdown] lang="en"
# ## Energy in the top r singular values
#
# By Eckart–Young–Mirsky, the best rank-r approximation of ΔW keeps the top r singular values; the
# fraction of ‖ΔW‖²_F it keeps is Σ_{i≤r} σ_i² / Σ σ_i².

# %% [markdown] lang="es"
# ## Energía en los r valores singulares mayores
#
# Por Eckart–Young–Mirsky, la mejor aproximación de rango r de ΔW conserva los r valores singulares
# mayores; la fracción de ‖ΔW‖²_F que conserva es Σ_{i≤r} σ_i² / Σ σ_i².

# %%
# NBVAL_IGNORE_OUTPUT
# Trained figures: on another CPU a layer's energy can move by a point or two (checked below).
def energy(s, r):
    return (s[:r] ** 2).sum().item() / (s ** 2).sum().item()


print(f"{'layer':<22} {'shape':>9} " + " ".join(f"{'r=' + str(r):>6}" for r in (1, 2, 4, 8, 16)))
singular = {}
for name, d in delta.items():
    singular[name] = torch.linalg.svdvals(d)
    print(f"{name:<22} {tuple(d.shape)!s:>9} " + " ".join(f"{energy(singular[name], r):>6.0%}" for r in (1, 2, 4, 8, 16)))

# %%
for r in (1, 8):
    mean = sum(energy(s, r) for s in singular.values()) / len(singular)
    print(compare(f"full.energy.r{r}", mean))

# %% [markdown] lang="en"
# ## How many directions hold 90%, against a random matrix
#
# Theory 03 asks for the smallest r with E(r) ≥ 0.9 in each layer, and for a baseline: a matrix with
# no structure at all. A random Gaussian matrix of the same shape spreads its energy over every
# direction, so it needs a large share of its full rank to reach 90%. If the fine-tune's ΔW needs far
# fewer, its update really is concentrated in a few directions.

# %% [markdown] lang="es"
# ## Cuántas direcciones guardan el 90 %, frente a una matriz aleatoria
#
# La teoría 03 pide el menor r con E(r) ≥ 0,9 en cada capa, y una referencia: una matriz sin ninguna
# estructura. Una matriz gaussiana aleatoria de la misma forma reparte su energía entre todas las
# direcciones, así que necesita buena parte de su rango completo para llegar al 90 %. Si el ΔW del
# ajuste fino necesita muchas menos, su actualización está de verdad concentrada en pocas direcciones.

# %%
# NBVAL_IGNORE_OUTPUT
# Trained figures: a layer's smallest r can move by one on another CPU (the comparison below holds).
def smallest_rank(s, share=0.9):
    """The smallest r with E(r) >= share."""
    return next(r for r in range(1, len(s) + 1) if energy(s, r) >= share)


generator = torch.Generator().manual_seed(0)
print(f"{'layer':<22} {'full rank':>9} {'ΔW':>5} {'Gaussian':>9}")
needed = {}
for name, s in singular.items():
    gaussian = torch.linalg.svdvals(torch.randn(delta[name].shape, generator=generator))
    needed[name] = (smallest_rank(s), smallest_rank(gaussian))
    print(f"{name:<22} {len(s):>9} {needed[name][0]:>5} {needed[name][1]:>9}")

# %%
print("every ΔW reaches 90% with fewer than half the directions a Gaussian matrix of its shape needs:",
      all(2 * fine <= noise for fine, noise in needed.values()))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, s in singular.items():
    ax.plot(range(1, len(s) + 1), (s / s[0]).numpy(), alpha=0.7, label=name if "blocks.0" in name else None)
ax.set(yscale="log", xlabel="index i", ylabel="σ_i / σ_1", title="full fine-tune ΔW, each Linear")
ax.legend(fontsize=7)
plt.show()

# %% [markdown] lang="en"
# ## A LoRA ΔW has rank at most r
#
# The same fine-tune with a rank-8 adapter: every ΔW = (α/r)·B·A has at most 8 non-zero singular
# values, whatever the shape of the layer.

# %% [markdown] lang="es"
# ## Un ΔW de LoRA tiene rango como mucho r
#
# El mismo ajuste fino con un adaptador de rango 8: cada ΔW = (α/r)·B·A tiene como mucho 8 valores
# singulares distintos de cero, sea cual sea la forma de la capa.

# %%
lora = finetune(load_base(), FinetuneConfig(r=8), splits, progress=False)
print(compare("lora.r8.irregular", lora.irregular_accuracy))
for name, m in lora.model.named_modules():
    if isinstance(m, LoRALinear) and name.startswith("blocks.0"):
        s = torch.linalg.svdvals(m.delta_weight().detach())
        print(f"{name:<22} numerical rank {int((s > 1e-6 * s[0]).sum()):>2} of {min(m.delta_weight().shape)}")
