"""`syncserver audit verify` and `syncserver audit show`: an auditor's view of a project's
log, read from its store alone, read-only, with no passphrase (docs/spec/audit-log-v1.md
§13). Thin: the checks are :func:`syncserver.audit.verify.verify_log` and
:func:`~syncserver.audit.verify.show_entries`; this module parses and prints."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from schemas.tlog import MAX_NOTE_BYTES

from .._time import ms
from ..audit.access_check import when
from ..audit.verify import ShownEntry, show_entries, verify_log
from ..errors import SyncServerError
from ..project.config import load_config

__all__ = ["register"]


def _db_path(args: argparse.Namespace) -> Path | str:
    if args.db:
        return Path(args.db)
    return load_config(Path(args.dir)).store_location


def _read_note(name: str) -> bytes:
    try:
        with open(name, "rb") as f:
            return f.read(MAX_NOTE_BYTES + 1)
    except OSError as e:
        raise SyncServerError(
            f"cannot read the checkpoint file {name} ({e.strerror})",
            hint="save checkpoints with `curl …/v1/log/checkpoint > FILE` and keep them",
        ) from None


def _verify(args: argparse.Namespace) -> int:
    saved = {name: _read_note(name) for name in args.checkpoint}
    report = verify_log(_db_path(args), key=args.key, saved=saved)
    if not report.ok and not report.differences:
        raise SyncServerError(
            f"audit log does not verify: {report.first_problem}", hint=report.hint
        )
    print(
        f"audit log verified: {report.entries} entries, {report.checkpoints} signed "
        f"checkpoint(s), the latest covering {report.covered} entries"
    )
    source = "pinned with --key" if report.key_pinned else "read from the store"
    print(f"  key {report.verifier_key} ({source})")
    if report.covered < report.entries:
        print(
            f"  note: entries {report.covered}..{report.entries - 1} come after the last signed "
            "checkpoint: only their leaf hashes were checked"
        )
    if report.receipts_unreadable:
        print(f"  note: {report.receipts_unreadable} receipt(s) in the store could not be read")
    if not report.key_pinned:
        print("  note: pin the key with --key for an audit that does not trust the store")
    for line in report.unbound:
        print(f"  note: {line}")
    if report.differences:
        print(
            f"syncserver: the tables that decide who may act differ from the audit log "
            f"({len(report.differences)} row(s)):",
            file=sys.stderr,
        )
        for line in report.differences:
            print(f"  {line}", file=sys.stderr)
        print(f"hint: {report.hint}", file=sys.stderr)
        return 1
    return 0


def _since(text: str) -> int:
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time (e.g. 2026-11-23 or 2026-11-23T12:00Z)"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.UTC)
    return ms(t)


_HEX_HASH = re.compile(r"[0-9a-f]{64}")
#: Hex digits of a hash shown by `audit show` (all of them with --json).
SHORT_HASH = 12


def _text(value: str) -> str:
    """A string as one token of a line: bare when plain, else JSON-quoted (so spaces,
    quotes and control characters cannot blur or forge the line)."""
    if value and value.isprintable() and not any(c in value for c in " ='\"\\"):
        return value
    return json.dumps(value, ensure_ascii=False)


def _value(key: str, value: str | int | bool) -> str:
    """A detail value as a person reads it (audit-log-v1.md §13.4)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return when(value) if key.endswith("_ms") else str(value)
    if _HEX_HASH.fullmatch(value):
        return value[:SHORT_HASH] + "…"
    return _text(value)


def _line(e: ShownEntry) -> str:
    parts = [f"{e.index:>7}", when(e.at_ms), f"{e.kind:<12}"]
    if e.subject:
        parts.append(_text(e.subject))
    parts.append(f"by {_text(e.actor)}")
    parts += [f"{_text(k)}={_value(k, v)}" for k, v in e.detail.items()]
    return "  ".join(parts)


def _show(args: argparse.Namespace) -> int:
    entries = show_entries(
        _db_path(args),
        kind=args.kind,
        subject=args.subject,
        since_ms=args.since,
        limit=args.limit,
        newest_first=args.newest,
    )
    found = False
    for e in entries:
        found = True
        if args.json:
            sys.stdout.write(msgspec.json.encode(e).decode() + "\n")
        else:
            print(_line(e))
    if not found and not args.json:
        print("no entries match", file=sys.stderr)
    return 0


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        default=os.environ.get("SEALSYNC_DIR", "."),
        help="project directory (default: $SEALSYNC_DIR or .)",
    )
    p.add_argument("--db", metavar="PATH", help="the SQLite store itself (instead of --dir)")


def register(
    subparsers: Any, project_options: Callable[[argparse.ArgumentParser], None] | None = None
) -> None:
    """Add ``audit verify`` and ``audit show`` to ``subparsers`` (from
    ``ArgumentParser.add_subparsers``).

    ``project_options`` is accepted so the call matches the other commands, but not
    used: it adds passphrase options, and these actions never need the passphrase (they
    read the store read-only). ``--dir`` behaves as everywhere else.
    """
    del project_options
    audit = subparsers.add_parser(
        "audit",
        help="verify and list the audit log (read-only, no passphrase)",
        description="Verify the project's audit log from its store, or list its entries. "
        "Needs no passphrase: the store is read, never written.",
    )
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    v = asub.add_parser(
        "verify",
        help="recompute the log and check every signed checkpoint; name the first bad entry",
    )
    _store_options(v)
    v.add_argument(
        "--key",
        metavar="VKEY",
        help="the log's verifier key to trust (recommended; default: the key in the store)",
    )
    v.add_argument(
        "--checkpoint",
        metavar="FILE",
        action="append",
        default=[],
        help="a checkpoint note saved earlier; must match the log (repeatable)",
    )
    v.set_defaults(func=_verify)
    s = asub.add_parser("show", help="list audit entries, oldest first")
    _store_options(s)
    s.add_argument("--kind", metavar="KIND", help="only entries of this kind (e.g. upload)")
    s.add_argument("--subject", metavar="ID", help="only entries about this id")
    s.add_argument(
        "--since", metavar="TIME", type=_since, help="only entries at or after TIME (UTC)"
    )
    s.add_argument("--limit", metavar="N", type=int, default=100, help="at most N entries (0: all)")
    s.add_argument("--newest", action="store_true", help="newest first")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.set_defaults(func=_show)
