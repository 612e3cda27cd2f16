"""`minituner` on the command line: a thin layer over the library, in English or Spanish."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

from . import checkpoint, recipes
from .evaluate import accuracy, accuracy_by_tense
from .grammar import make_splits
from .lora import lora_parameter_count
from .model import MiniGPT, parameter_inventory

MESSAGES = {
    "en": {
        "description": "minituner: LoRA by hand on a 100k-parameter Mini-GPT.",
        "lang": "language of the messages (default: $MINITUNER_LANG, else en)",
        "info": "the parameter inventory of Mini-GPT and LoRA's 2304·r",
        "pretrain": "rebuild the pretrained base from scratch (deterministic)",
        "finetune": "fine-tune the base on the 120 irregular cells",
        "eval": "evaluate the base, or the base with an adapter",
        "steps": "training steps",
        "seed": "random seed",
        "out": "where to write the base (safetensors)",
        "r": "LoRA rank (integer >= 1)",
        "alpha": "LoRA alpha (> 0); the update is scaled by alpha/r",
        "full": "full fine-tuning instead of LoRA (every parameter trains)",
        "save": "save the adapter to this folder (safetensors + JSON config)",
        "adapter": "an adapter folder to load onto the base",
        "checkpoint": "a base checkpoint (default: the one shipped with the package)",
        "layer": "layer",
        "shape": "shape",
        "params": "parameters",
        "total": "total",
        "rank": "rank r",
        "lora_params": "LoRA parameters",
        "fraction": "of the model",
        "heldout": "held-out regular accuracy",
        "irregular": "irregular accuracy (120 cells)",
        "retention": "regular retention (held-out)",
        "trainable": "trainable parameters",
        "wall": "wall time",
        "saved": "saved",
        "same_as_shipped": "identical to the shipped base",
        "yes": "yes",
        "no": "no",
        "error": "error",
    },
    "es": {
        "description": "minituner: LoRA a mano sobre un Mini-GPT de 100k parámetros.",
        "lang": "idioma de los mensajes (por defecto: $MINITUNER_LANG, si no en)",
        "info": "el inventario de parámetros de Mini-GPT y los 2304·r de LoRA",
        "pretrain": "reconstruir el modelo base desde cero (determinista)",
        "finetune": "ajuste fino del modelo base en las 120 celdas irregulares",
        "eval": "evaluar el modelo base, o el modelo base con un adaptador",
        "steps": "pasos de entrenamiento",
        "seed": "semilla aleatoria",
        "out": "dónde escribir el modelo base (safetensors)",
        "r": "rango de LoRA (entero >= 1)",
        "alpha": "alpha de LoRA (> 0); la actualización se escala por alpha/r",
        "full": "ajuste fino completo en lugar de LoRA (se entrenan todos los parámetros)",
        "save": "guardar el adaptador en esta carpeta (safetensors + configuración JSON)",
        "adapter": "una carpeta de adaptador para cargar sobre el modelo base",
        "checkpoint": "un checkpoint del modelo base (por defecto: el que trae el paquete)",
        "layer": "capa",
        "shape": "forma",
        "params": "parámetros",
        "total": "total",
        "rank": "rango r",
        "lora_params": "parámetros LoRA",
        "fraction": "del modelo",
        "heldout": "exactitud en regulares reservados",
        "irregular": "exactitud irregular (120 celdas)",
        "retention": "retención de regulares (reservados)",
        "trainable": "parámetros entrenables",
        "wall": "tiempo real",
        "saved": "guardado",
        "same_as_shipped": "idéntico al modelo base del paquete",
        "yes": "sí",
        "no": "no",
        "error": "error",
    },
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def build_parser(m: dict[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minituner", description=m["description"])
    parser.add_argument("--lang", choices=sorted(MESSAGES), help=m["lang"])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help=m["info"])
    p = sub.add_parser("pretrain", help=m["pretrain"])
    p.add_argument("--steps", type=_positive_int, default=recipes.PretrainConfig.steps, help=m["steps"])
    p.add_argument("--seed", type=int, default=0, help=m["seed"])
    p.add_argument("--out", type=Path, default=Path(checkpoint.BASE_FILE), help=m["out"])
    p = sub.add_parser("finetune", help=m["finetune"])
    p.add_argument("--r", type=_positive_int, default=8, help=m["r"])
    p.add_argument("--alpha", type=_positive_float, default=16.0, help=m["alpha"])
    p.add_argument("--steps", type=_positive_int, default=recipes.FinetuneConfig.steps, help=m["steps"])
    p.add_argument("--seed", type=int, default=0, help=m["seed"])
    p.add_argument("--full", action="store_true", help=m["full"])
    p.add_argument("--save", type=Path, help=m["save"])
    p = sub.add_parser("eval", help=m["eval"])
    p.add_argument("--adapter", type=Path, help=m["adapter"])
    p.add_argument("--checkpoint", type=Path, help=m["checkpoint"])
    return parser


def _language(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1] if arg.split("=", 1)[1] in MESSAGES else "en"
        if arg == "--lang" and i + 1 < len(argv) and argv[i + 1] in MESSAGES:
            return argv[i + 1]
    env = os.environ.get("MINITUNER_LANG", "en")
    return env if env in MESSAGES else "en"


def cmd_info(m: dict[str, str]) -> None:
    model = MiniGPT()
    rows = parameter_inventory(model)
    print(f"{m['layer']:<28} {m['shape']:<12} {m['params']:>10}")
    for name, shape, count in rows:
        print(f"{name:<28} {'x'.join(map(str, shape)):<12} {count:>10,}")
    total = sum(count for *_, count in rows)
    print(f"{m['total']:<28} {'':<12} {total:>10,}\n")
    per_r = lora_parameter_count(model, r=1)
    print(f"LoRA = {per_r}·r\n{m['rank']:>6} {m['lora_params']:>16} {m['fraction']:>12}")
    for r in (1, 2, 4, 8, 16, 32, 64):
        print(f"{r:>6} {per_r * r:>16,} {100 * per_r * r / total:>11.2f}%")


def cmd_pretrain(args: argparse.Namespace, m: dict[str, str]) -> None:
    start = time.perf_counter()
    model = recipes.pretrain(recipes.PretrainConfig(steps=args.steps, seed=args.seed))
    seconds = time.perf_counter() - start
    checkpoint.save_model(model, args.out)
    splits = make_splits(seed=args.seed)
    print(f"{m['heldout']}: {accuracy(model, splits.heldout):.1%}")
    print(f"{m['irregular']}: {accuracy(model, splits.irregular):.1%}")
    print(f"{m['wall']}: {seconds:.1f} s")
    shipped = checkpoint.base_path()
    same = shipped.is_file() and _sha256(shipped) == _sha256(args.out)
    print(f"{m['saved']}: {args.out} ({m['same_as_shipped']}: {m['yes'] if same else m['no']})")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cmd_finetune(args: argparse.Namespace, m: dict[str, str]) -> None:
    cfg = recipes.FinetuneConfig(
        r=None if args.full else args.r, alpha=args.alpha, steps=args.steps, seed=args.seed
    )
    result = recipes.finetune(checkpoint.load_base(), cfg)
    print(f"{m['irregular']}: {result.irregular_accuracy:.1%}")
    print(f"{m['retention']}: {result.retention:.1%}")
    print(f"{m['trainable']}: {result.trainable:,}")
    print(f"{m['wall']}: {result.seconds:.1f} s")
    if args.save and not args.full:
        print(f"{m['saved']}: {checkpoint.save_adapter(result.model, args.save)}")


def cmd_eval(args: argparse.Namespace, m: dict[str, str]) -> None:
    model = checkpoint.load_model(args.checkpoint) if args.checkpoint else checkpoint.load_base()
    if args.adapter:
        checkpoint.load_adapter(model, args.adapter)
    splits = make_splits()
    print(f"{m['heldout']}: {accuracy(model, splits.heldout):.1%}")
    print(f"{m['irregular']}: {accuracy(model, splits.irregular):.1%}")
    for tense, acc in accuracy_by_tense(model, splits.irregular).items():
        print(f"  {tense:<22} {acc:.1%}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    m = MESSAGES[_language(argv)]
    args = build_parser(m).parse_args(argv)
    try:
        if args.command == "info":
            cmd_info(m)
        elif args.command == "pretrain":
            cmd_pretrain(args, m)
        elif args.command == "finetune":
            cmd_finetune(args, m)
        elif args.command == "eval":
            cmd_eval(args, m)
    except (ValueError, TypeError, KeyError, OSError) as err:
        reason = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"minituner: {m['error']}: {reason}", file=sys.stderr)
        return 1
    return 0
