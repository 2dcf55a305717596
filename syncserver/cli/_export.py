"""`syncserver export`: the command over :func:`syncserver.analysis.export.export_form`.

Wired into ``syncserver.cli.build_parser`` with::

    cli_export.register(sub, project_options, open_unlocked)

Whoever runs the command holds the project secret, i.e. acts as ``admin``: the only
role that may ask for sensitive answers (:data:`syncserver.analysis.export.SENSITIVE_ROLES`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._time import now
from ..analysis.export import export_form
from ..project import Project
from ._common import cli_actor

__all__ = ["SENSITIVE_WARNING", "register"]

SENSITIVE_WARNING = (
    "warning: this export contains identifying data (names, years of birth, places of "
    "origin, narratives). Families of respondents remain inside North Korea. The export is "
    "recorded in the audit log as a sensitive export. Keep the files on an encrypted disk, "
    "share them with no one who does not need them, and delete them when done."
)


def register(
    subparsers: Any,
    project_options: Callable[[argparse.ArgumentParser], None],
    open_project_fn: Callable[[argparse.Namespace], Project],
) -> argparse.ArgumentParser:
    """Add ``export`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="export a form's current records for analysis (CSV tables or JSON Lines)",
        description="Export the current records of a form. Sensitive answers are redacted "
        "unless --include-sensitive is given. Every export is an audit entry.",
    )
    p.add_argument("--form", required=True, metavar="ID", help="form id, e.g. escapee-interview")
    p.add_argument(
        "--format", choices=("csv", "jsonl"), default="csv", help="file format (default: csv)"
    )
    p.add_argument(
        "--lang",
        metavar="LANG",
        help="language of the codebook labels, e.g. ko or en (default: every form language)",
    )
    p.add_argument(
        "--form-version",
        type=int,
        metavar="N",
        help="only records of this form version (default: all versions, newest columns)",
    )
    p.add_argument(
        "--headers",
        choices=("names", "labels"),
        default="names",
        help="CSV header row: question names, or labels in --lang (default: names)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the files")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier export in --out (default: refuse)",
    )
    p.add_argument(
        "--include-sensitive",
        action="store_true",
        help="include sensitive answers (identifying data; logged in the audit log)",
    )
    project_options(p)

    def run(args: argparse.Namespace) -> int:
        return _run(args, open_project_fn)

    p.set_defaults(func=run)
    return p


def _run(args: argparse.Namespace, open_project_fn: Callable[[argparse.Namespace], Project]) -> int:
    if args.include_sensitive:
        print(SENSITIVE_WARNING, file=sys.stderr)
    project = open_project_fn(args)
    try:
        report = export_form(
            project,
            args.form,
            fmt=args.format,
            out_dir=Path(args.out),
            version=args.form_version,
            lang=args.lang,
            headers=args.headers,
            include_sensitive=args.include_sensitive,
            overwrite=args.overwrite,
            role="admin",
            actor=cli_actor(),
            now=now(),
        )
    finally:
        project.close()
    versions = ", ".join(f"v{v}" for v in report.versions)
    print(
        f"exported {report.rows} records of form '{args.form}' ({versions};"
        f" columns of v{report.form_version})"
    )
    for f in report.files:
        print(f"  {f}")
    for table, n in report.repeat_rows.items():
        print(f"  {table}: {n} repeat entries")
    if report.redacted_columns:
        print(
            f"{len(report.redacted_columns)} sensitive columns redacted"
            " (--include-sensitive to include them)"
        )
    if report.held_back:
        print(
            f"{report.held_back} records held back: their versions are in conflict;"
            " resolve the conflicts in review, then export again",
            file=sys.stderr,
        )
    return 0
