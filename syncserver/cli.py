"""`syncserver`: the admin command line (thin: it parses arguments and calls libraries).

At this stage it offers `syncserver forms check`, which data managers use to check a
form (TOML, YAML or XLSForm) before publishing it; issue #3 adds the service itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from schemas import __version__
from schemas.errors import FormInvalid
from schemas.survey import Form, import_xlsform, load_form


def _load(path: Path) -> tuple[Form, list[str]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        result = import_xlsform(path)
        return result.form, [str(w) for w in result.warnings]
    return load_form(path), []


def _forms_check(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="syncserver", description="sealsync sync server and admin tools"
    )
    p.add_argument("--version", action="version", version=f"sealsync {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    forms = sub.add_parser("forms", help="survey forms")
    fsub = forms.add_subparsers(dest="forms_command", metavar="ACTION")
    check = fsub.add_parser(
        "check", help="check form files (.toml, .yaml, .xlsx) and list every problem"
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_forms_check)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    code: int = func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
