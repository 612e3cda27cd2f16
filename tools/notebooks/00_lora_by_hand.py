# %% [markdown] lang="en"
# # Lab 00 — LoRALinear by hand
#
# You write LoRA yourself: a `LoRALinear` that wraps a frozen `nn.Linear`, a function that wraps every
# Linear of Mini-GPT, the adapter's state dict, and merging. Each block ends with a **check cell**
# that measures what the theory promises and stops with an error if it does not hold.
#
# Fill in the cells between `### BEGIN SOLUTION` and `### END SOLUTION`; do not edit the check cells.
# The page of this lab is `lab/00-lora-by-hand.md`.

# %% [markdown] lang="es"
# # Laboratorio 00 — LoRALinear a mano
#
# Escribes LoRA tú mismo: un `LoRALinear` que envuelve un `nn.Linear` congelado, una función que
# envuelve cada Linear de Mini-GPT, el state dict del adaptador y la fusión. Cada bloque termina con
# una **celda de comprobación** que mide lo que promete la teoría y se detiene con un error si no se
# cumple.
#
# Completa las celdas entre `### BEGIN SOLUTION` y `### END SOLUTION`; no edites las celdas de
# comprobación. La página de este laboratorio es `lab/00-lora-by-hand.es.md`.

# %% tags=["lab/lora.py"]
import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# %%
from minituner.model import MiniGPT
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine

# %% [markdown] lang="en"
# ## Block A — identity at init
#
# `A` (r × in) starts random (kaiming-uniform, a = √5, as `nn.Linear`), `B` (out × r) starts at
# zero, so ΔW = (α/r)·B·A = 0 and the wrapped layer computes exactly what the base computes.

# %% [markdown] lang="es"
# ## Bloque A — identidad al inicio
#
# `A` (r × in) empieza aleatoria (kaiming-uniform, a = √5, como `nn.Linear`), `B` (out × r) empieza
# en cero, así que ΔW = (α/r)·B·A = 0 y la capa envuelta calcula exactamente lo mismo que la base.

# %% tags=["lab/lora.py"]
class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable update ΔW = (α/r)·B·A, with B·A thin."""

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        freeze_base: bool = True,
    ) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # Fail where the mistake is made, with the value that caused it.
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        if isinstance(r, bool) or not isinstance(r, int):
            raise TypeError(f"r must be an int >= 1, got {r!r}")
        if r < 1:
            raise ValueError(f"r must be >= 1, got r={r}: with r = 0 there is no update to learn")
        if isinstance(alpha, bool) or not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a finite number > 0, got alpha={alpha!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout!r}")

        self.base = base  # registered as a submodule: its weights stay in the state dict
        self.r = r
        self.alpha = float(alpha)
        self.scaling = self.alpha / r  # a plain float: not trained, not saved
        self.merged = False

        # A is (r x in) and B is (out x r): F.linear(x, A) maps in -> r, F.linear(., B) maps r -> out.
        # Same dtype and device as the base weight, so a wrapped model moves and casts as one piece.
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        # A gets nn.Linear's own init; B = 0 alone makes B @ A = 0, so step 0 is the base model.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        # nn.Dropout switches itself off under .eval(); Identity costs nothing when dropout = 0.
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        if freeze_base:
            # requires_grad lives on the Parameter objects themselves, so .to(), .train(), .eval()
            # and load_state_dict (which copies values into them) all keep it.
            base.requires_grad_(False)
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        y: Tensor = self.base(x)  # W0 x (+ bias)
        if self.merged:  # ΔW is already inside base.weight: adding it again would count it twice
            return y
        return y + self.scaling * F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        ### END SOLUTION

    # Block D: leave these three for later; check D tells you when.
    def delta_weight(self) -> Tensor:
        """ΔW = (α/r)·B·A, shaped like base.weight (out × in)."""
        ### BEGIN SOLUTION
        return self.scaling * (self.lora_B @ self.lora_A)
        ### END SOLUTION

    @torch.no_grad()
    def merge_(self, safe: bool = False) -> None:
        """Fold ΔW into base.weight once; with safe=True, refuse a result that is not finite."""
        ### BEGIN SOLUTION
        if self.merged:
            warnings.warn("LoRALinear is already merged; merging again would add ΔW twice", stacklevel=2)
            return
        new_weight = self.base.weight + self.delta_weight()
        if safe and not torch.isfinite(new_weight).all():
            raise ValueError("merge refused: W + ΔW has non-finite values (NaN or inf); weights unchanged")
        self.base.weight.copy_(new_weight)
        self.merged = True  # A and B are kept, so unmerge_() can take ΔW out again
        ### END SOLUTION

    @torch.no_grad()
    def unmerge_(self) -> None:
        """Take ΔW back out of base.weight."""
        ### BEGIN SOLUTION
        if not self.merged:
            warnings.warn("LoRALinear is not merged; nothing to unmerge", stacklevel=2)
            return
        self.base.weight.sub_(self.delta_weight())
        self.merged = False
        ### END SOLUTION

# %%
# Check A: identity at init, and the count of theory 02
base = nn.Linear(64, 64)
layer = LoRALinear(base, r=8, alpha=16.0)
x = torch.randn(16, 64)
init_diff = (layer(x) - base(x)).abs().max().item()
trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
print(f"initial output diff: {init_diff:.1e} (float32 rounding at most), below 1e-6: {init_diff < 1e-6}")
print("trainable parameters of LoRALinear(Linear(64, 64), r=8):", trainable)
assert init_diff < 1e-6 and trainable == 1024

# %% [markdown] lang="en"
# ## Block B — wrap Mini-GPT, freeze the rest
#
# Replace every `nn.Linear` whose dotted name ends with a target (`q_proj`, ..., `fc2`) by a
# `LoRALinear`, and freeze everything else: only A and B may learn.

# %% [markdown] lang="es"
# ## Bloque B — envolver Mini-GPT y congelar el resto
#
# Sustituye cada `nn.Linear` cuyo nombre con puntos termina en un objetivo (`q_proj`, ..., `fc2`)
# por un `LoRALinear` y congela todo lo demás: solo A y B pueden aprender.

# %% [markdown] lang="en"
# <!-- prediction: 00.trainable -->
# **Your prediction.** After wrapping Mini-GPT's 12 Linears at r = 8, how many parameters are
# trainable, out of how many in all? Which parameters receive a gradient?
#
# <!-- BEGIN ANSWER -->
# A common prediction: about 1% of the model, as in the LLaMA figures, with the embedding and the
# LayerNorms still learning.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 00.trainable -->
# **Tu predicción.** Tras envolver las 12 Linear de Mini-GPT con r = 8, ¿cuántos parámetros son
# entrenables, de cuántos en total? ¿Qué parámetros reciben gradiente?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: alrededor del 1 % del modelo, como en las cifras de LLaMA, con el
# embedding y las LayerNorm todavía aprendiendo.
# <!-- END ANSWER -->

# %% tags=["lab/lora.py"]
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def wrap_minigpt_with_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16.0,
    target_modules: Iterable[str] = TARGETS,
    dropout: float = 0.0,
) -> nn.Module:
    """Swap, in place, every nn.Linear whose dotted name ends with a target for a LoRALinear."""
    ### BEGIN SOLUTION
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("model already has LoRA adapters; wrap a fresh base model")
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    if not targets:
        raise ValueError("target_modules is empty; name at least one Linear, e.g. 'q_proj'")
    # Collect first, replace after: never change a module tree while iterating over it.
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    # Suffix match on whole dotted parts: 'fc1' selects 'blocks.0.mlp.fc1', never 'blocks.0.mlp.xfc1'.
    unmatched = [t for t in targets if not any(name == t or name.endswith("." + t) for name in linears)]
    if unmatched:
        # A typo ('q_porj') must not silently train nothing: show the names that do exist.
        raise ValueError(f"target_modules {unmatched} match no nn.Linear; the Linears are: {sorted(linears)}")
    model.requires_grad_(False)  # freeze everything: embedding, LayerNorms, biases, every Linear
    for name, linear in linears.items():
        if any(name == t or name.endswith("." + t) for t in targets):
            parent_name, _, child = name.rpartition(".")
            # The new lora_A / lora_B are created after the freeze, so they are the only trainable ones.
            lora = LoRALinear(linear, r=r, alpha=alpha, dropout=dropout).train(linear.training)
            setattr(model.get_submodule(parent_name), child, lora)
    return model
    ### END SOLUTION

# %%
# Check B: 2304·r trainable parameters, and gradients reach A and B only
for r in (1, 8):
    model = wrap_minigpt_with_lora(MiniGPT(), r=r)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"r={r}: {n:,} trainable parameters (2304·r = {2304 * r:,})")
    assert n == 2304 * r
model(torch.randint(0, 64, (2, 10))).sum().backward()
got_grad = sorted({name.rsplit(".", 1)[-1] for name, p in model.named_parameters() if p.grad is not None})
print("parameters that received a gradient:", got_grad)
assert got_grad == ["lora_A", "lora_B"]

# %% [markdown] lang="en"
# ## Block C — the adapter's state dict, checked on the way in
#
# Only A and B are saved. Loading checks every key and every shape **before** it copies anything.

# %% [markdown] lang="es"
# ## Bloque C — el state dict del adaptador, comprobado a la entrada
#
# Solo se guardan A y B. La carga comprueba cada clave y cada forma **antes** de copiar nada.

# %% tags=["lab/lora.py"]
def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapter: every lora_A and lora_B under its full dotted name."""
    ### BEGIN SOLUTION
    return {
        name: tensor.detach().clone()
        for name, tensor in model.state_dict().items()
        if name.endswith((".lora_A", ".lora_B"))
    }
    ### END SOLUTION


def load_lora_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Check every key and every shape first; copy only when all of them match."""
    ### BEGIN SOLUTION
    expected = lora_state_dict(model)
    if not expected:
        raise ValueError("model has no LoRA adapters; call wrap_minigpt_with_lora first")
    merged = [n for n, m in model.named_modules() if isinstance(m, LoRALinear) and m.merged]
    if merged:  # the old ΔW lives in the weights: unmerge_() would later subtract the new one
        raise ValueError(f"unmerge_() before loading another adapter; merged: {merged}")
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise KeyError(f"adapter keys do not match the model: missing {missing}, unexpected {unexpected}")
    for key, want in expected.items():
        if tuple(state[key].shape) != tuple(want.shape):
            raise ValueError(f"{key}: expected shape {tuple(want.shape)}, found {tuple(state[key].shape)}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in state.items():
            params[key].copy_(value)  # copy_ keeps the Parameter object, so requires_grad stays True
    ### END SOLUTION

# %%
# Check C: a round trip gives the same outputs; a rank-4 adapter does not fit a rank-8 model
trained = wrap_minigpt_with_lora(MiniGPT(), r=8).eval()
with torch.no_grad():
    for name, p in trained.named_parameters():
        if name.endswith("lora_B"):
            p.normal_(std=0.05)  # pretend it was trained
fresh = wrap_minigpt_with_lora(MiniGPT(), r=8).eval()
fresh.load_state_dict({k: v for k, v in trained.state_dict().items() if "lora_" not in k}, strict=False)
load_lora_state_dict(fresh, lora_state_dict(trained))
tokens = torch.randint(0, 64, (4, 12))
roundtrip_diff = (fresh(tokens) - trained(tokens)).abs().max().item()
print("round-trip output diff below 1e-6:", roundtrip_diff < 1e-6)
assert roundtrip_diff < 1e-6
try:
    load_lora_state_dict(fresh, lora_state_dict(wrap_minigpt_with_lora(MiniGPT(), r=4)))
    refused = False
except ValueError as err:
    refused = "q_proj.lora_A" in str(err)
print("rank 4 into rank 8 refused with a ValueError that names the key:", refused)
assert refused

# %% [markdown] lang="en"
# ## Block D — merge for inference, and undo it
#
# Three methods of the class cell above are still empty: `delta_weight()`, `merge_(safe=False)` and
# `unmerge_()`. Fill them in there and run that cell again. `merge_()` folds ΔW into the base weight
# once and sets `merged`; a second call only warns, since adding ΔW twice would silently change the
# model. With `safe=True` it first checks that W + ΔW is finite and refuses, leaving the weights
# untouched, if it is not. `unmerge_()` takes ΔW out again, and only warns if nothing is merged.

# %% [markdown] lang="es"
# ## Bloque D — fusionar para inferencia, y deshacerlo
#
# Tres métodos de la celda de la clase siguen vacíos: `delta_weight()`, `merge_(safe=False)` y
# `unmerge_()`. Complétalos allí y vuelve a ejecutar esa celda. `merge_()` incorpora ΔW al peso base
# una sola vez y activa `merged`; una segunda llamada solo avisa, porque sumar ΔW dos veces cambiaría
# el modelo sin decir nada. Con `safe=True` comprueba antes que W + ΔW es finito y, si no lo es, se
# niega y deja los pesos intactos. `unmerge_()` vuelve a sacar ΔW, y solo avisa si no hay nada
# fusionado.

# %% [markdown] lang="en"
# <!-- prediction: 00.merge -->
# **Your prediction.** After `merge_()`, do the layer's outputs stay the same bit for bit? And what
# would a second `merge_()` do to them without the `merged` flag?
#
# <!-- BEGIN ANSWER -->
# A common prediction: bit for bit the same, since W + ΔW is the same sum; a second merge changes
# nothing either.
# <!-- END ANSWER -->

# %% [markdown] lang="es"
# <!-- prediction: 00.merge -->
# **Tu predicción.** Tras `merge_()`, ¿las salidas de la capa siguen idénticas bit a bit? ¿Y qué les
# haría un segundo `merge_()` sin el indicador `merged`?
#
# <!-- BEGIN ANSWER -->
# Una predicción habitual: idénticas bit a bit, porque W + ΔW es la misma suma; un segundo merge
# tampoco cambia nada.
# <!-- END ANSWER -->

# %%
# Check D: merging keeps the outputs, merging twice changes nothing, unmerging restores
layer = LoRALinear(nn.Linear(64, 256), r=8, alpha=16.0)
with torch.no_grad():
    layer.lora_B.normal_(std=0.1)
x = torch.randn(32, 64)
before = layer(x)
layer.merge_()
merge_diff = (layer(x) - before).abs().max().item()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    layer.merge_()
twice_diff = (layer(x) - before).abs().max().item()
layer.unmerge_()
unmerge_diff = (layer(x) - before).abs().max().item()
print(f"post-merge diff: {merge_diff:.1e} (float32 rounding), below 1e-5: {merge_diff < 1e-5}")
print(f"below 1e-5 after a second merge: {twice_diff < 1e-5}; after unmerge: {unmerge_diff < 1e-5}")
print("a second merge_() warns:", len(caught) == 1)
assert merge_diff < 1e-5 and twice_diff < 1e-5 and unmerge_diff < 1e-5 and len(caught) == 1
with torch.no_grad():
    layer.lora_B[0, 0] = float("inf")
weight = layer.base.weight.clone()
try:
    layer.merge_(safe=True)
    refused = False
except ValueError:
    refused = not layer.merged and torch.equal(layer.base.weight, weight)
print("merge_(safe=True) refuses an inf, weights unchanged:", refused)
assert refused

# %% [markdown] lang="en"
# ## Your implementation against the reference
#
# The same A and B in your `LoRALinear` and in `minituner.lora.LoRALinear` must give the same output.
# Write the three measured values (initial diff, merge diff, trainable count) into your notes.

# %% [markdown] lang="es"
# ## Tu implementación frente a la de referencia
#
# Los mismos A y B en tu `LoRALinear` y en `minituner.lora.LoRALinear` deben dar la misma salida.
# Anota en tus notas los tres valores medidos (diferencia inicial, diferencia tras fusionar, número
# de parámetros entrenables).

# %%
from minituner.lora import LoRALinear as ReferenceLoRALinear

base = nn.Linear(64, 256)
mine, ref = LoRALinear(base, r=4, alpha=8.0), ReferenceLoRALinear(base, r=4, alpha=8.0)
with torch.no_grad():
    mine.lora_B.normal_()
    ref.lora_A.copy_(mine.lora_A)
    ref.lora_B.copy_(mine.lora_B)
x = torch.randn(8, 64)
print("max |mine - reference| below 1e-6:", (mine(x) - ref(x)).abs().max().item() < 1e-6)
print("for your notes:")
print(f"  initial output diff: {init_diff:.1e} (float32 rounding at most), below 1e-6: {init_diff < 1e-6}")
print(f"  post-merge diff: {merge_diff:.1e} (float32 rounding), below 1e-5: {merge_diff < 1e-5}")
print(f"  trainable parameters of LoRALinear(nn.Linear(64, 64), r=8): {trainable:,}")
