"""`minituner` on the command line: a thin layer over the library and the course, in English or Spanish.

`--lang en|es` (anywhere on the line) or $MINITUNER_LANG picks the language of every message,
argparse's usage and errors included.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from . import checkpoint, recipes
from .course import cli as course_cli
from .course.cli import positive_float, positive_int
from .errors import NotFound, UserError
from .evaluate import accuracy, accuracy_by_tense
from .grammar import make_splits
from .i18n import LANGUAGES, _, language, use
from .lora import lora_parameter_count
from .model import MiniGPT, parameter_inventory


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)  # options every command accepts, before or after it
    common.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=argparse.SUPPRESS,
        help=_("language of the messages and of a new workspace (default: $MINITUNER_LANG, else en)"),
    )
    common.add_argument(
        "--course",
        type=Path,
        default=argparse.SUPPRESS,
        help=_("the course folder (default: the current folder or the nearest parent with learners/)"),
    )
    parser = argparse.ArgumentParser(
        prog="minituner",
        parents=[common],
        description=_("minituner: LoRA by hand on a 100k-parameter Mini-GPT."),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "info", parents=[common], help=_("the parameter inventory of Mini-GPT and LoRA's 2304·r")
    )
    p.set_defaults(handler=cmd_info)
    p = sub.add_parser(
        "pretrain", parents=[common], help=_("rebuild the pretrained base from scratch (deterministic)")
    )
    p.add_argument(
        "--steps", type=positive_int, default=recipes.PretrainConfig.steps, help=_("training steps")
    )
    p.add_argument("--seed", type=int, default=0, help=_("random seed"))
    p.add_argument(
        "--out",
        type=Path,
        default=Path(checkpoint.BASE_FILE),
        help=_("where to write the base (safetensors)"),
    )
    p.set_defaults(handler=cmd_pretrain)
    p = sub.add_parser("finetune", parents=[common], help=_("fine-tune the base on the 120 irregular cells"))
    p.add_argument("--r", type=positive_int, default=8, help=_("LoRA rank (integer >= 1)"))
    p.add_argument(
        "--alpha",
        type=positive_float,
        default=16.0,
        help=_("LoRA alpha (> 0); the update is scaled by alpha/r"),
    )
    p.add_argument(
        "--steps", type=positive_int, default=recipes.FinetuneConfig.steps, help=_("training steps")
    )
    p.add_argument("--seed", type=int, default=0, help=_("random seed"))
    p.add_argument(
        "--full", action="store_true", help=_("full fine-tuning instead of LoRA (every parameter trains)")
    )
    p.add_argument("--save", type=Path, help=_("save the adapter to this folder (safetensors + JSON config)"))
    p.set_defaults(handler=cmd_finetune)
    p = sub.add_parser("eval", parents=[common], help=_("evaluate the base, or the base with an adapter"))
    p.add_argument("--adapter", type=Path, help=_("an adapter folder to load onto the base"))
    p.add_argument(
        "--checkpoint", type=Path, help=_("a base checkpoint (default: the one shipped with the package)")
    )
    p.set_defaults(handler=cmd_eval)
    course_cli.add_commands(sub, common)
    return parser


# One handler a command (argparse's set_defaults): the arguments and the language of the messages in,
# the exit code out.


def cmd_info(args: argparse.Namespace, lang: str) -> int:
    model = MiniGPT()
    rows = parameter_inventory(model)
    layer, shape_label, params, total_label = _("layer"), _("shape"), _("parameters"), _("total")
    print(f"{layer:<28} {shape_label:<12} {params:>10}")
    for name, shape, count in rows:
        print(f"{name:<28} {'x'.join(map(str, shape)):<12} {count:>10,}")
    total = sum(count for *_rest, count in rows)
    print(f"{total_label:<28} {'':<12} {total:>10,}\n")
    per_r = lora_parameter_count(model, r=1)
    rank, lora_params, fraction = _("rank r"), _("LoRA parameters"), _("of the model")
    print(f"LoRA = {per_r}·r\n{rank:>6} {lora_params:>16} {fraction:>12}")
    for r in (1, 2, 4, 8, 16, 32, 64):
        print(f"{r:>6} {per_r * r:>16,} {100 * per_r * r / total:>11.2f}%")
    return 0


def cmd_pretrain(args: argparse.Namespace, lang: str) -> int:
    if not args.out.parent.is_dir():  # before minutes of training
        raise NotFound(_("no such folder: {path}").format(path=args.out.parent))
    start = time.perf_counter()
    model = recipes.pretrain(recipes.PretrainConfig(steps=args.steps, seed=args.seed))
    seconds = time.perf_counter() - start
    checkpoint.save_model(model, args.out)
    splits = make_splits(seed=args.seed)
    print(_("held-out regular accuracy") + f": {accuracy(model, splits.heldout):.1%}")
    print(_("irregular accuracy (the 120 fine-tuning cells)") + f": {accuracy(model, splits.irregular):.1%}")
    print(_("wall time") + f": {seconds:.1f} s")
    shipped = checkpoint.base_path()
    same = shipped.is_file() and _sha256(shipped) == _sha256(args.out)
    answer = _("yes") if same else _("no")
    print(_("saved: {path} (identical to the shipped base: {answer})").format(path=args.out, answer=answer))
    return 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cmd_finetune(args: argparse.Namespace, lang: str) -> int:
    cfg = recipes.FinetuneConfig(
        r=None if args.full else args.r, alpha=args.alpha, steps=args.steps, seed=args.seed
    )
    result = recipes.finetune(checkpoint.load_base(), cfg)
    print(_("irregular accuracy (the 120 training cells)") + f": {result.irregular_accuracy:.1%}")
    print(_("regular retention (held-out)") + f": {result.retention:.1%}")
    print(_("trainable parameters") + f": {result.trainable:,}")
    print(_("wall time") + f": {result.seconds:.1f} s")
    if args.save and not args.full:
        print(_("saved") + f": {checkpoint.save_adapter(result.model, args.save)}")
    return 0


def cmd_eval(args: argparse.Namespace, lang: str) -> int:
    model = checkpoint.load_model(args.checkpoint) if args.checkpoint else checkpoint.load_base()
    if args.adapter:
        checkpoint.load_adapter(model, args.adapter)
    splits = make_splits()
    print(_("held-out regular accuracy") + f": {accuracy(model, splits.heldout):.1%}")
    print(_("irregular accuracy (the 120 training cells)") + f": {accuracy(model, splits.irregular):.1%}")
    for tense, acc in accuracy_by_tense(model, splits.irregular).items():
        print(f"  {tense:<22} {acc:.1%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    lang = language(argv)
    use(lang)
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args, lang)
    except UserError as err:  # bad input, told in one line; anything else is a bug: its traceback shows
        print("minituner: " + _("error: {reason}").format(reason=err), file=sys.stderr)
        return 1
    return code
