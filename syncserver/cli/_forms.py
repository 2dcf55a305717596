"""`syncserver forms`: check form files (no project needed), publish a form version,
list the published ones."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from schemas.errors import FormInvalid
from schemas.survey import Form, import_xlsform, load_form

from .._time import now
from ._common import cli_actor, opened, project_options, reading

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``forms`` to ``sub`` (from ``ArgumentParser.add_subparsers``)."""
    forms = sub.add_parser("forms", help="survey forms")
    fsub = forms.add_subparsers(dest="forms_command", metavar="ACTION")
    check = fsub.add_parser(
        "check", help="check form files (.toml, .yaml, .xlsx) and list every problem"
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_check)
    pub = fsub.add_parser("publish", help="publish a form version for devices and ingest")
    pub.add_argument("file", metavar="FILE")
    project_options(pub)
    pub.set_defaults(func=_publish)
    fl = fsub.add_parser("list", help="list published forms")
    project_options(fl)
    fl.set_defaults(func=_list)


def _load(path: Path) -> tuple[Form, list[str]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        result = import_xlsform(path)
        return result.form, [str(w) for w in result.warnings]
    return load_form(path), []


def _check(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            form, warnings = _load(path)
        except FormInvalid as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 1
            continue
        items = len(form.walk())
        print(
            f"{path}: ok: form '{form.id}' v{form.version}, {items} items, "
            f"languages {', '.join(form.languages)}"
        )
        for w in warnings:
            print(f"  warning: {w}")
    if status:
        print(
            "hint: fix every problem listed, then run `syncserver forms check` again",
            file=sys.stderr,
        )
    return status


def _publish(args: argparse.Namespace) -> int:
    from ..forms import publish_form

    form, warnings = _load(Path(args.file))
    for w in warnings:
        print(f"  warning: {w}")
    with opened(args) as project:
        new = publish_form(project, form, actor=cli_actor(), now=now())
    state = "published" if new else "already published (no change)"
    print(f"form '{form.id}' v{form.version}: {state}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..forms import list_forms

    with reading(args) as project:
        rows = list_forms(project)
    if not rows:
        print("no forms published; publish one with `syncserver forms publish FILE`")
    for f in rows:
        print(f"{f.form_id:<30} v{f.version:<4} {f.published:%Y-%m-%d %H:%M}  {f.digest[:16]}")
    return 0
