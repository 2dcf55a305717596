"""`syncserver quarantine`, `conflicts`, `records` and `attachments`: reviewing what came
in (what did not get into the data and why, concurrent edits, a record's versions and
review state, an attachment taken out of its sealed bundle)."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from schemas.ids import parse_id

from .._time import now
from ..errors import SyncServerError
from ._common import cli_actor, dir_arg, opened, project_options, reading

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``quarantine``, ``conflicts``, ``records`` and ``attachments`` to ``sub`` (from
    ``ArgumentParser.add_subparsers``)."""
    q = sub.add_parser("quarantine", help="what did not get into the data, and why")
    qsub = q.add_subparsers(dest="quarantine_command", metavar="ACTION")
    ql = qsub.add_parser("list", help="list quarantined bundles and records")
    ql.add_argument("--all", action="store_true", help="include released items")
    project_options(ql)
    ql.set_defaults(func=_quarantine_list)
    qs = qsub.add_parser("show", help="one item with its problems")
    qs.add_argument("id", type=int)
    project_options(qs)
    qs.set_defaults(func=_quarantine_show)
    qr = qsub.add_parser("release", help="ingest the item's bundle again")
    qr.add_argument("id", type=int)
    project_options(qr)
    qr.set_defaults(func=_quarantine_release)

    cf = sub.add_parser("conflicts", help="concurrent edits to review")
    csub = cf.add_subparsers(dest="conflicts_command", metavar="ACTION")
    cl = csub.add_parser("list", help="records with conflicting versions")
    project_options(cl)
    cl.set_defaults(func=_conflicts_list)
    cr = csub.add_parser("resolve", help="keep one version as current")
    cr.add_argument("record_id")
    cr.add_argument("--keep", required=True, metavar="SHA256", help="the version to keep")
    project_options(cr)
    cr.set_defaults(func=_conflicts_resolve)

    rc = sub.add_parser("records", help="record history and review")
    rsub = rc.add_subparsers(dest="records_command", metavar="ACTION")
    rs = rsub.add_parser("show", help="every version of a record")
    rs.add_argument("record_id")
    rs.add_argument("--answers", action="store_true", help="print the answers too")
    rs.add_argument(
        "--include-sensitive", action="store_true", help="decrypt sensitive answers (logged)"
    )
    project_options(rs)
    rs.set_defaults(func=_records_show)
    rr = rsub.add_parser("review", help="set the review state of the current version")
    rr.add_argument("record_id")
    rr.add_argument(
        "--state", required=True, choices=["received", "has_issues", "approved", "rejected"]
    )
    project_options(rr)
    rr.set_defaults(func=_records_review)

    at = sub.add_parser(
        "attachments",
        help="attachments (kept encrypted inside their bundles)",
        description="Attachments stay inside their sealed bundles on the server; take one"
        " out only when you need it. Every extraction is an audit entry.",
    )
    asub = at.add_subparsers(dest="attachments_command", metavar="ACTION")
    ag = asub.add_parser("get", help="write one attachment of a record to a new file")
    ag.add_argument("record_id")
    ag.add_argument("name", help="the attachment's name in the record")
    ag.add_argument("--out", required=True, metavar="FILE", help="a new file (mode 0600)")
    project_options(ag)
    ag.set_defaults(func=_attachments_get)


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return parse_id(text)
    except ValueError:
        raise SyncServerError(f"not a {what} id: {text!r}") from None


def _quarantine_list(args: argparse.Namespace) -> int:
    from ..records.review import list_quarantine

    with reading(args) as project:
        items = list_quarantine(project, include_released=args.all)
    if not items:
        print("quarantine is empty")
    for q in items:
        what = f"record {q.record_id} v{q.version}" if q.record_id else "whole bundle"
        done = f"  released {q.released:%Y-%m-%d}" if q.released else ""
        print(
            f"{q.id:>5}  {q.created:%Y-%m-%d %H:%M}  bundle {q.bundle_id}  {what}: {q.reason}{done}"
        )
    return 0


def _quarantine_show(args: argparse.Namespace) -> int:
    from ..records.quarantine_hints import hint_for
    from ..records.review import list_quarantine

    with reading(args) as project:
        items = {q.id: q for q in list_quarantine(project, include_released=True)}
    q = items.get(args.id)
    if q is None:
        raise SyncServerError(
            f"no quarantine item {args.id}", hint="see `syncserver quarantine list`"
        )
    print(f"item {q.id}: {q.reason}")
    print(f"  bundle  {q.bundle_id}")
    if q.record_id:
        print(f"  record  {q.record_id} v{q.version}")
    for p in q.problems:
        print(f"  - {p}")
    if q.released:
        print(
            f"released {q.released:%Y-%m-%d %H:%M}: what still failed then is a newer item"
            f" (`syncserver quarantine list {dir_arg(args)}`)"
        )
    else:
        print(f"hint: {hint_for(q.reason, q.id, dir_arg(args))}")
    return 0


def _quarantine_release(args: argparse.Namespace) -> int:
    from ..ingest import Preparer
    from ..records.review import list_quarantine, release

    with opened(args) as project:
        preparer = Preparer.for_project(project)
        r = release(project, project.blobs, preparer, args.id, actor=cli_actor(), now=now())
        again = [q.id for q in list_quarantine(project) if q.bundle_id == r.bundle_id]
    if r.state == "quarantined":  # the whole bundle, again
        print(
            f"released item {args.id}: bundle {r.bundle_id} is back in quarantine as a whole"
            f" (item {again[-1] if again else '?'}): {'; '.join(r.reasons)}"
        )
        print(
            f"hint: see `syncserver quarantine show {again[-1] if again else ''} {dir_arg(args)}`"
        )
        return 0
    print(
        f"released item {args.id}: bundle {r.bundle_id} ingested again: {r.accepted} accepted, "
        f"{r.quarantined} back in quarantine"
    )
    if r.quarantined:
        print(f"hint: see `syncserver quarantine list {dir_arg(args)}`")
    return 0


def _conflicts_list(args: argparse.Namespace) -> int:
    from ..records.review import list_conflicts

    with reading(args) as project:
        conflicts = list_conflicts(project)
    if not conflicts:
        print("no conflicts")
    for rid, versions in conflicts.items():
        print(f"record {rid}:")
        for ver, sha in versions:
            print(f"  v{ver}  {sha.hex()}")
    return 0


def _conflicts_resolve(args: argparse.Namespace) -> int:
    from ..records.review import resolve_conflict

    try:
        keep = bytes.fromhex(args.keep)
    except ValueError:
        raise SyncServerError("--keep takes the hex SHA-256 shown by `conflicts list`") from None
    with opened(args) as project:
        resolve_conflict(
            project, _uuid(args.record_id, "record"), keep, actor=cli_actor(), now=now()
        )
    print("resolved: the kept version is current; the others are kept as history")
    return 0


def _records_show(args: argparse.Namespace) -> int:
    from ..records.review import record_history

    opener = opened if args.include_sensitive else reading  # only that needs the key
    with opener(args) as project:
        history = record_history(
            project,
            _uuid(args.record_id, "record"),
            include_sensitive=args.include_sensitive,
            actor=cli_actor(),
        )
    for h in history:
        print(
            f"v{h.version}  {h.status:<10} review={h.review:<10} {h.received:%Y-%m-%d %H:%M}  "
            f"form {h.form_id} v{h.form_version}  bundle {h.bundle_id}  device {h.device_id}"
        )
        if args.answers:
            for k, v in h.answers.items():
                print(f"      {k} = {v!r}")
    if args.include_sensitive:
        print(
            "(sensitive answers shown: this access is recorded in the audit log)", file=sys.stderr
        )
    return 0


def _records_review(args: argparse.Namespace) -> int:
    from ..records.review import set_review

    with opened(args) as project:
        set_review(
            project, _uuid(args.record_id, "record"), args.state, actor=cli_actor(), now=now()
        )
    print(f"record {args.record_id}: {args.state}")
    return 0


def _attachments_get(args: argparse.Namespace) -> int:
    from ..records.attachments import extract_attachment

    out = Path(args.out)
    with opened(args) as project:
        n = extract_attachment(
            project, _uuid(args.record_id, "record"), args.name, out, actor=cli_actor(), now=now()
        )
    print(f"wrote {n} bytes to {out} (this access is recorded in the audit log)")
    print(
        "keep the file on an encrypted disk and delete it when done: it may identify the"
        " respondent",
        file=sys.stderr,
    )
    return 0
