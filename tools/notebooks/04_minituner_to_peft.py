# %% [markdown] lang="en"
# # Lab 04 — From minituner to Hugging Face PEFT
#
# The same Mini-GPT, wrapped by minituner and by peft: same trainable count, same outputs, same merged
# weights, and adapters that travel both ways on disk.

# %% [markdown] lang="es"
# # Laboratorio 04 — De minituner a Hugging Face PEFT
#
# El mismo Mini-GPT, envuelto por minituner y por peft: el mismo número de parámetros entrenables,
# las mismas salidas, los mismos pesos fusionados y adaptadores que viajan en ambos sentidos en disco.

# %%
import tempfile
from pathlib import Path

import peft
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from minituner import LoRALinear, load_base, lora_state_dict, trainable_parameters_report
from minituner.evaluate import accuracy
from minituner.figures import check
from minituner.grammar import make_splits
from minituner.interop import export_peft_adapter, import_peft_adapter, to_peft_state_dict
from minituner.recipes import FinetuneConfig, finetune
from minituner.train import make_reproducible

make_reproducible()  # same numbers on every re-run on this machine
splits = make_splits()
ours = finetune(load_base(), FinetuneConfig(r=8), splits, progress=False).model.eval()
print("peft", peft.__version__)
print("minituner:", trainable_parameters_report(ours))

# %% [markdown] lang="en"
# ## The same model, wrapped by peft
#
# `get_peft_model` works on any `nn.Module`: `target_modules` uses the same suffix matching on
# dotted names as `wrap_minigpt_with_lora`.

# %% [markdown] lang="es"
# ## El mismo modelo, envuelto por peft
#
# `get_peft_model` funciona con cualquier `nn.Module`: `target_modules` usa la misma coincidencia por
# sufijo sobre los nombres con puntos que `wrap_minigpt_with_lora`.

# %%
config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"],
                    lora_dropout=0.0)
ref = get_peft_model(load_base(), config)
ref.print_trainable_parameters()
print(type(ref.base_model.model.blocks[0].attn.q_proj))

# %% [markdown] lang="en"
# ## Copy minituner's A and B into peft
#
# minituner's `lora_A` is peft's `lora_A.default.weight` (r × in), `lora_B` is `lora_B.default.weight`
# (out × r). With the same matrices, the outputs must agree.

# %% [markdown] lang="es"
# ## Copiar A y B de minituner en peft
#
# `lora_A` de minituner es `lora_A.default.weight` de peft (r × in), y `lora_B` es
# `lora_B.default.weight` (out × r). Con las mismas matrices, las salidas tienen que coincidir.

# %%
state = {k.replace(".weight", ".default.weight"): v for k, v in to_peft_state_dict(lora_state_dict(ours)).items()}
missing, unexpected = ref.load_state_dict(state, strict=False)
assert not unexpected and not [k for k in missing if "lora_" in k]
ref.eval()
tokens = torch.randint(1, 45, (64, 24))
with torch.no_grad():
    diff = (ours(tokens) - ref(tokens)).abs().max().item()
print(f"max |minituner - peft| logits within 1e-6: {diff <= 1e-6}")
ours_accuracy = accuracy(ours, splits.irregular)
print("peft model, same irregular accuracy as minituner:", accuracy(ref, splits.irregular) == ours_accuracy)
print(check("lora.r8.irregular", ours_accuracy))

# %% [markdown] lang="en"
# ## Merged weights
#
# peft's `merge_and_unload()` against minituner's `merge_()`: W + (α/r)·B·A in both.

# %% [markdown] lang="es"
# ## Pesos fusionados
#
# `merge_and_unload()` de peft frente a `merge_()` de minituner: W + (α/r)·B·A en ambos.

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
for m in ours.modules():
    if isinstance(m, LoRALinear):
        m.unmerge_()

# %% [markdown] lang="en"
# ## Adapters on disk, both ways
#
# `export_peft_adapter` writes peft's format (adapter_config.json + adapter_model.safetensors);
# `PeftModel.from_pretrained` loads it onto a plain Mini-GPT. peft's own `save_pretrained` output
# comes back into minituner with `import_peft_adapter`.

# %% [markdown] lang="es"
# ## Adaptadores en disco, en ambos sentidos
#
# `export_peft_adapter` escribe el formato de peft (adapter_config.json + adapter_model.safetensors);
# `PeftModel.from_pretrained` lo carga sobre un Mini-GPT sin adaptar. Lo que guarda el propio
# `save_pretrained` de peft vuelve a minituner con `import_peft_adapter`.

# %%
folder = Path(tempfile.mkdtemp())
export_peft_adapter(ours, folder / "to-peft")
print(sorted(p.name for p in (folder / "to-peft").iterdir()))
loaded = PeftModel.from_pretrained(load_base(), folder / "to-peft").eval()
print("peft, from minituner's files, same irregular accuracy:", accuracy(loaded, splits.irregular) == ours_accuracy)
loaded.save_pretrained(folder / "from-peft")
back = import_peft_adapter(load_base(), folder / "from-peft").eval()
print("minituner, from peft's files, same irregular accuracy:", accuracy(back, splits.irregular) == ours_accuracy)

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

# %%
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"]
for name, extra in [("LoRA", {}), ("rsLoRA", {"use_rslora": True}), ("DoRA", {"use_dora": True})]:
    m = get_peft_model(load_base(), LoraConfig(r=8, lora_alpha=16, target_modules=targets, **extra))
    trainable, _ = m.get_nb_trainable_parameters()
    scale = m.base_model.model.blocks[0].attn.q_proj.scaling["default"]
    print(f"{name:<7} scaling {scale:.4f}  trainable {trainable:,}")
two = get_peft_model(load_base(), LoraConfig(r=8, lora_alpha=16, target_modules=targets))
two.add_adapter("other", LoraConfig(r=2, lora_alpha=4, target_modules=targets))
two.set_adapter("other")
print("adapters on one model:", list(two.peft_config), "active:", two.active_adapter)
