"""`minituner` on the command line: a thin layer over the library, in English or Spanish."""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

from . import breaks, checkpoint, grading, recipes, workspace
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
        "break": "the /break exercises: list, start, run, check, reset",
        "break_list": "each break and its status for a learner",
        "break_start": "write your prediction, then apply the break to src/minituner",
        "break_run": "run the observation: print the symptom",
        "break_check": "run the contract tests: do they pass again?",
        "break_reset": "restore src/minituner byte for byte (never touches learners/)",
        "id": "break id, e.g. 00",
        "learner": "your learner name (learners/NAME/)",
        "not started": "not started",
        "predicted": "predicted",
        "broken": "broken",
        "fixed": "fixed",
        "write_prediction": "write your prediction under '## Break {id}' in {path}, then run this again",
        "applied": "break {id} applied to src/minituner/lora.py; now `minituner break run {id}`",
        "check_pass": "break {id}: the contract tests pass",
        "check_fail": "break {id}: the contract tests fail (run `pytest tests/test_minituner.py` to see why)",
        "reset_done": "break {id} reset: src/minituner/lora.py is pristine again",
        "reset_none": "no break is applied; nothing to reset",
        "reset_kept": "your edits of lora.py are kept in {path}",
        "learner_cmd": "learner workspaces: new",
        "learner_new": "create learners/NAME/phase-28 (never overwrites)",
        "lang_ws": "language of the workspace's notebooks and notes",
        "created": "created {path}; next: read its README.md",
        "grade": "grade every workspace under a folder and write a gradebook",
        "folder": "the folder of the workspaces (default: learners)",
        "jobs": "learners graded at once",
        "timeout": "seconds allowed per learner",
        "cell_timeout": "seconds allowed per notebook cell",
        "all": "grade every workspace again, changed or not",
        "graded": "graded {n} workspaces, {ok} with every item passing; gradebook: {path}",
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
        "break": "los ejercicios /break: list, start, run, check, reset",
        "break_list": "cada break y su estado para un estudiante",
        "break_start": "escribe tu predicción y después aplica el break a src/minituner",
        "break_run": "ejecutar la observación: muestra el síntoma",
        "break_check": "ejecutar las pruebas del contrato: ¿vuelven a pasar?",
        "break_reset": "restaurar src/minituner byte a byte (nunca toca learners/)",
        "id": "id del break, p. ej. 00",
        "learner": "tu nombre de estudiante (learners/NOMBRE/)",
        "not started": "sin empezar",
        "predicted": "con predicción",
        "broken": "roto",
        "fixed": "arreglado",
        "write_prediction": "escribe tu predicción bajo '## Break {id}' en {path} y vuelve a ejecutar esto",
        "applied": "break {id} aplicado a src/minituner/lora.py; ahora `minituner break run {id}`",
        "check_pass": "break {id}: las pruebas del contrato pasan",
        "check_fail": "break {id}: fallan las pruebas del contrato (mira `pytest tests/test_minituner.py`)",
        "reset_done": "break {id} restaurado: src/minituner/lora.py vuelve a estar intacto",
        "reset_none": "no hay ningún break aplicado; nada que restaurar",
        "reset_kept": "tus cambios en lora.py se guardan en {path}",
        "learner_cmd": "espacios de trabajo de estudiantes: new",
        "learner_new": "crear learners/NOMBRE/phase-28 (nunca sobrescribe)",
        "lang_ws": "idioma de los cuadernos y notas del espacio de trabajo",
        "created": "creado {path}; ahora lee su README.md",
        "grade": "calificar todos los espacios de trabajo de una carpeta y escribir un libro de notas",
        "folder": "la carpeta de los espacios de trabajo (por defecto: learners)",
        "jobs": "estudiantes calificados a la vez",
        "timeout": "segundos permitidos por estudiante",
        "cell_timeout": "segundos permitidos por celda de cuaderno",
        "all": "volver a calificar todos los espacios de trabajo, cambien o no",
        "graded": "calificados {n} espacios de trabajo, {ok} con todo aprobado; libro de notas: {path}",
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
    brk = sub.add_parser("break", help=m["break"]).add_subparsers(dest="action", required=True)
    brk.add_parser("list", help=m["break_list"]).add_argument("--learner", help=m["learner"])
    p = brk.add_parser("start", help=m["break_start"])
    p.add_argument("id", help=m["id"])
    p.add_argument("--learner", required=True, help=m["learner"])
    for action in ("run", "check"):
        brk.add_parser(action, help=m[f"break_{action}"]).add_argument("id", help=m["id"])
    brk.add_parser("reset", help=m["break_reset"])
    learner = sub.add_parser("learner", help=m["learner_cmd"]).add_subparsers(dest="action", required=True)
    p = learner.add_parser("new", help=m["learner_new"])
    p.add_argument("name", help=m["learner"])
    p.add_argument("--lang", dest="ws_lang", choices=["en", "es"], default="en", help=m["lang_ws"])
    p = sub.add_parser("grade", help=m["grade"])
    p.add_argument("folder", nargs="?", type=Path, default=breaks.ROOT / "learners", help=m["folder"])
    p.add_argument("--jobs", type=_positive_int, default=2, help=m["jobs"])
    p.add_argument("--timeout", type=_positive_float, default=300.0, help=m["timeout"])
    p.add_argument("--cell-timeout", type=_positive_float, default=60.0, help=m["cell_timeout"])
    p.add_argument("--all", action="store_true", help=m["all"])
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


def cmd_break(args: argparse.Namespace, m: dict[str, str]) -> int:
    if args.action == "list":
        for break_id, state in breaks.status(args.learner).items():
            brk = breaks.get(break_id)
            print(f"{break_id}  {brk.title_es if m is MESSAGES['es'] else brk.title:<50} {m[state]}")
    elif args.action == "start":
        notes = breaks.start(args.id, args.learner)
        if notes is not None:
            print(m["write_prediction"].format(id=args.id, path=notes), file=sys.stderr)
            return 1
        print(m["applied"].format(id=args.id))
    elif args.action == "run":
        for line in breaks.observe(args.id, importlib.import_module("minituner.lora")):
            print(line)
    elif args.action == "check":
        breaks.get(args.id)
        contract = breaks.ROOT / "tests" / "test_minituner.py"
        ok = (
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(contract)],
                cwd=breaks.ROOT,
                capture_output=True,
            ).returncode
            == 0
        )
        current = breaks.applied()
        if ok and current and current["id"] == args.id:
            breaks.log(current["learner"], args.id, "fixed")
        print(m["check_pass" if ok else "check_fail"].format(id=args.id))
        return 0 if ok else 1
    elif args.action == "reset":
        reset = breaks.reset()
        if reset is None:
            print(m["reset_none"])
        else:
            print(m["reset_done"].format(id=reset[0]))
            if reset[1] is not None:
                print(m["reset_kept"].format(path=reset[1]))
    return 0


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
        elif args.command == "break":
            return cmd_break(args, m)
        elif args.command == "learner":
            print(m["created"].format(path=workspace.new(args.name, args.ws_lang)))
        elif args.command == "grade":
            book = grading.grade(args.folder, args.jobs, args.timeout, args.cell_timeout, args.all)
            with book.open() as f:
                rows = list(csv.DictReader(f))
            ok = sum(all(r[k] == "pass" for k in grading.ITEMS) for r in rows)
            print(m["graded"].format(n=len(rows), ok=ok, path=book))
    except (ValueError, TypeError, KeyError, OSError, RuntimeError) as err:
        reason = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"minituner: {m['error']}: {reason}", file=sys.stderr)
        return 1
    return 0
