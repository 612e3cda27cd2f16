"""The course's commands: break, learner, contract and grade. They act on the course folder the user
stands in (or `--course DIR`), never on the installed library."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..errors import BadInput, NotFound
from ..i18n import _, known_language
from . import breaks, contract, export, grading, mystery, workspace


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    brk = sub.add_parser(
        "break",
        parents=[common],
        help=_("the /break exercises: list, start, run, check, reset, and the mystery break"),
    )
    actions = brk.add_subparsers(dest="action", required=True)
    learner_help = _("your learner name (learners/NAME/)")
    p = actions.add_parser("list", parents=[common], help=_("each break and its status for a learner"))
    p.add_argument("--learner", help=learner_help)
    p.set_defaults(handler=break_list)
    for action, handler, text in (
        ("start", break_start, _("write your prediction, then get the broken lora.py in your workspace")),
        ("run", break_run, _("run the observation on your broken copy: print the symptom")),
        ("check", break_check, _("run the contract tests on your copy: do they pass again?")),
        ("reset", break_reset, _("put the broken lora.py back (your edited copy is kept beside it)")),
    ):
        p = actions.add_parser(action, parents=[common], help=text)
        p.add_argument("id", help=_("break id, e.g. 00, or mystery"))
        p.add_argument("--learner", required=True, help=learner_help)
        p.set_defaults(handler=handler)
    p = actions.add_parser(
        "mystery",
        parents=[common],
        help=_("get a break you have not done, without its name: diagnose it from its symptoms"),
    )
    p.add_argument("--learner", required=True, help=learner_help)
    p.set_defaults(handler=break_mystery)
    p = actions.add_parser(
        "reveal", parents=[common], help=_("name the mystery break, once your diagnosis is written")
    )
    p.add_argument("id", choices=[mystery.WHERE], help=_("what to reveal: mystery"))
    p.add_argument("--learner", required=True, help=learner_help)
    p.add_argument(
        "--give-up", action="store_true", help=_("reveal it without a diagnosis (then no diagnosis counts)")
    )
    p.set_defaults(handler=break_reveal)
    learner = sub.add_parser("learner", parents=[common], help=_("learner workspaces: new"))
    p = learner.add_subparsers(dest="action", required=True).add_parser(
        "new",
        parents=[common],
        help=_("create learners/NAME/phase-28 in the language of --lang (never overwrites)"),
    )
    p.add_argument("name", help=learner_help)
    p.set_defaults(handler=learner_new)
    p = sub.add_parser("contract", parents=[common], help=_("run the contract tests of lab 00 on a lora.py"))
    p.add_argument("file", type=Path, help=_("the lora.py to check, e.g. lab/lora.py"))
    p.add_argument("-k", dest="select", help=_("only the tests matching this pytest -k expression"))
    p.set_defaults(handler=contract_command)
    p = sub.add_parser(
        "grade", parents=[common], help=_("grade every workspace under a folder and write a gradebook")
    )
    p.add_argument("folder", nargs="?", type=Path, help=_("the folder of the workspaces (default: learners)"))
    p.add_argument("--jobs", type=positive_int, default=2, help=_("learners graded at once"))
    p.add_argument("--timeout", type=positive_float, default=300.0, help=_("seconds allowed per learner"))
    p.add_argument(
        "--cell-timeout", type=positive_float, default=60.0, help=_("seconds allowed per notebook cell")
    )
    p.add_argument("--all", action="store_true", help=_("grade every workspace again, changed or not"))
    p.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help=_("run the learners' code without bubblewrap (the gradebook says so)"),
    )
    p.add_argument(
        "--memory", type=positive_float, default=2.0, help=_("GiB of memory allowed per graded process")
    )
    p.add_argument("--rubric", type=Path, help=_("a rubric TOML file whose points replace the course's"))
    p.add_argument(
        "--export",
        choices=("canvas", "moodle"),
        help=_("also write the points for a learning management system (needs --roster)"),
    )
    p.add_argument(
        "--roster", type=Path, help=_("the class list: Canvas's gradebook export, or learner,sis_id")
    )
    p.add_argument(
        "--release",
        action="store_true",
        help=_("copy each feedback report into its learner's workspace (feedback/)"),
    )
    p.set_defaults(handler=grade)


def write_export(platform: str, points: Path, roster: list[export.Entry]) -> None:
    """learners/canvas.csv or moodle.csv from points.csv, and who could not be matched."""
    with points.open(newline="") as f:
        _header, possible, *rows = list(csv.reader(f))
    items = grading.ITEMS  # points.csv's columns, in order, then the total
    maximum = {item: float(x) for item, x in zip(items, possible[1:-1], strict=True)}
    scores = [
        export.Scores(row[0], {item: float(x) for item, x in zip(items, row[1:-1], strict=True)})
        for row in rows
    ]
    made = (
        export.canvas(scores, maximum, roster)
        if platform == "canvas"
        else export.moodle(scores, maximum, roster)
    )
    target = points.with_name(f"{platform}.csv")
    target.write_text(made.text, encoding="utf-8")
    print(_("{platform} file: {path}").format(platform=platform.capitalize(), path=target))
    if made.missing_from_roster:
        print(_("not in the roster, left out: {names}").format(names=", ".join(made.missing_from_roster)))
    if made.without_workspace:
        names = ", ".join(f"{e.name or e.learner} ({e.row})" for e in made.without_workspace)
        print(_("in the roster, with no workspace: {names}").format(names=names))


def positive_int(text: str) -> int:
    return int(_positive(text, int, _("an integer >= 1")))


def positive_float(text: str) -> float:
    return _positive(text, float, _("a number > 0"))


def _positive(text: str, kind: type[int] | type[float], expected: str) -> float:
    """An argparse type: `text` as a number of `kind` above 0, or an error naming the value."""
    try:
        value = kind(text)
    except ValueError:
        message = _("expected {expected}, got {value!r}").format(expected=expected, value=text)
        raise argparse.ArgumentTypeError(message) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(
            _("expected {expected}, got {value}").format(expected=expected, value=text)
        )
    return value


def course_folder(args: argparse.Namespace) -> Path:
    folder: Path | None = getattr(args, "course", None)
    if folder is None:
        return workspace.find_course()
    if not folder.is_dir():
        raise NotFound(_("--course {path}: no such folder").format(path=folder))
    return folder.resolve()


def learner_of(args: argparse.Namespace) -> workspace.Learner:
    return workspace.Learner(course_folder(args), args.learner)


# --- One handler a command (argparse's set_defaults): each takes the arguments and the language
# of the messages, and returns the exit code. ----------------------------------------------------


def contract_command(args: argparse.Namespace, lang: str) -> int:
    result = contract.verify(args.file, args.select)
    print(_("contract on {path}: {result}").format(path=args.file, result=result.text(_)))
    return 0 if result.passed else 1


def grade(args: argparse.Namespace, lang: str) -> int:
    course = course_folder(args)
    if args.export and args.roster is None:
        raise BadInput(_("--export {platform} needs --roster FILE").format(platform=args.export))
    roster = export.read_roster(args.roster) if args.export else []  # its errors before any grading
    path, n, ok = grading.grade(
        args.folder or course / "learners",
        args.jobs,
        args.timeout,
        args.cell_timeout,
        args.all,
        lang,
        sandboxed=args.sandbox,
        memory=int(args.memory * 2**30),
        rubric=args.rubric,
        release=args.release,
    )
    print(
        _("graded {n} workspaces, {ok} with every item passing; gradebook: {path}").format(
            n=n, ok=ok, path=path
        )
    )
    if not args.sandbox:
        print(_(grading.NO_SANDBOX), file=sys.stderr)
    if args.export:
        write_export(args.export, path.with_name("points.csv"), roster)
    return 0


def learner_new(args: argparse.Namespace, lang: str) -> int:
    home = workspace.new(workspace.Learner(course_folder(args), args.name), known_language(lang))
    print(_("created {path}; next: read its README.md").format(path=home))
    return 0


def break_list(args: argparse.Namespace, lang: str) -> int:
    course = course_folder(args)
    learner = workspace.Learner(course, args.learner) if args.learner else None
    states = workspace.status(learner) if learner else {b.id: "not started" for b in breaks.CATALOGUE}
    for brk in breaks.CATALOGUE:
        print(f"{brk.id}  {_(brk.title):<58} {_(states[brk.id])}")
    if learner is not None:
        list_mystery(learner)
    return 0


def break_start(args: argparse.Namespace, lang: str) -> int:
    learner = learner_of(args)
    if args.id == mystery.WHERE:
        raise BadInput(
            _(
                "the mystery break asks for no prediction: "
                "take it with `minituner break mystery --learner {name}`"
            ).format(name=learner.name)
        )
    brk = breaks.get(args.id)
    ready, path = workspace.start_break(learner, brk)
    if not ready:
        print(
            _("write your prediction under '## Break {id}' in {path}, then run this again").format(
                id=brk.id, path=path
            ),
            file=sys.stderr,
        )
        return 1
    print(
        _("break {id}: your broken copy is {path}; now `minituner break run {id} --learner {name}`").format(
            id=brk.id, path=path, name=learner.name
        )
    )
    return 0


def break_run(args: argparse.Namespace, lang: str) -> int:
    learner = learner_of(args)
    if args.id == mystery.WHERE:
        lines = mystery.run(learner)
    else:
        lines = workspace.run_break(learner, breaks.get(args.id))
    for line in lines:
        print(line)
    return 0


def break_check(args: argparse.Namespace, lang: str) -> int:
    learner = learner_of(args)
    if args.id != mystery.WHERE:
        brk = breaks.get(args.id)
        result = workspace.check_break(learner, brk)
        print(_("break {id}: the contract tests: {result}").format(id=brk.id, result=result.text(_)))
        return 0 if result.passed else 1
    fixed = mystery.verify_fix(learner)
    if fixed is None:
        return diagnosis_first(
            learner,
            _(
                "write your diagnosis under '{heading}' in {path}: which line of "
                "breaks/mystery/lora.py is wrong, and why; then run this again"
            ),
        )
    print(_("mystery break: the contract tests: {result}").format(result=fixed.text(_)))
    return 0 if fixed.passed else 1


def break_reset(args: argparse.Namespace, lang: str) -> int:
    learner = learner_of(args)
    if args.id == mystery.WHERE:
        kept = mystery.reset(learner)
        path = mystery.path(learner.workspace)
        print(_("mystery break reset: {path} is the broken file again").format(path=path))
    else:
        brk = breaks.get(args.id)
        kept = workspace.reset_break(learner, brk)
        path = learner.break_file(brk)
        print(_("break {id} reset: {path} is the broken file again").format(id=brk.id, path=path))
    if kept is not None:
        print(_("your edits of lora.py are kept in {path}").format(path=kept))
    return 0


def break_mystery(args: argparse.Namespace, lang: str) -> int:
    """A break not done yet, never named before `reveal`."""
    learner = learner_of(args)
    taken = mystery.take(learner)
    if taken.again:
        print(_("you have done every break: this mystery is one of them again, picked at random"))
    said = (
        _("your mystery break is in {path}: a break you have not done, not named")
        if taken.new
        else _("your mystery break is already in {path}: the same one as before")
    )
    print(said.format(path=taken.path))
    print(
        _(
            "next: `minituner break run {where} --learner {name}` shows its symptoms; find the line, "
            "write which line is wrong and why under '{heading}' in {notes}, fix the file, then "
            "`minituner break check {where} --learner {name}`"
        ).format(where=mystery.WHERE, name=learner.name, heading=taken.heading, notes=taken.notes)
    )
    return 0


def break_reveal(args: argparse.Namespace, lang: str) -> int:
    learner = learner_of(args)
    shown = mystery.reveal(learner, args.give_up)
    if shown is None:
        return diagnosis_first(
            learner,
            _(
                "write your diagnosis under '{heading}' in {path} first, or pass --give-up to see the "
                "answer without one (then no diagnosis counts)"
            ),
        )
    brk = shown.brk
    print(
        _("the mystery break is break {id} — {title} (its page: break/{id}-{slug}.md)").format(
            id=brk.id, title=_(brk.title), slug=brk.slug
        )
    )
    if not shown.diagnosis:
        print(_("it was revealed before a diagnosis was written: no diagnosis counts"))
    elif shown.named:
        print(_("your diagnosis, as it was at the first reveal, names its cause"))
    else:
        print(
            _(
                "your diagnosis, as it was at the first reveal, does not name its cause: "
                "compare it with the Cause block of the page"
            )
        )
    return 0


def diagnosis_first(learner: workspace.Learner, message: str) -> int:
    """Ask for the mystery's diagnosis first (`message` names its heading and notes): exit code 1."""
    print(message.format(heading=mystery.heading(learner.workspace), path=learner.notes), file=sys.stderr)
    return 1


def list_mystery(learner: workspace.Learner) -> None:
    """The mystery's line of `break list`, once taken: its name only after the reveal."""
    known = mystery.current(learner.workspace)
    if known is None:
        return
    title = _("a break you have not done, not named")
    if known.revealed is not None:
        title = f"= {known.brk.id} — {_(known.brk.title)}"
    state = _("fixed") if known.fixed else _("broken")
    print(f"{mystery.WHERE}  {title:<53} {state}")
