"""`syncserver respondents`: the review queue and links, for data managers
(docs/spec/respondent-matching.md §8.3, docs/dedup.md).

Wired into ``syncserver.cli.build_parser`` with::

    cli_respondents.register(sub, project_options, opened)

Ids are printed and accepted in full. Identity answers are shown only with
``--include-sensitive``, and each such look is a ``key_use`` audit entry.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.ids import parse_id

from .. import respondents as rs
from .._time import now
from ..errors import SyncServerError
from ..project import Project
from ._common import cli_actor

__all__ = ["register"]

Opened = Callable[[argparse.Namespace], contextlib.AbstractContextManager[Project]]


def _id(text: str) -> uuid.UUID:
    try:
        return parse_id(text)
    except ValueError:
        raise SyncServerError(
            f"not an interview or respondent id: {text!r}",
            hint="copy it from `syncserver respondents candidates` or an export",
        ) from None


def _pair(args: argparse.Namespace, project: Project) -> tuple[uuid.UUID, uuid.UUID]:
    """The two interviews named by ``A B`` or by ``--item N``."""
    if args.item is not None:
        if args.ids:
            raise SyncServerError("give either two interview ids or --item, not both")
        c = rs.get_candidate(project, args.item)
        return c.a, c.b
    if len(args.ids) != 2:
        raise SyncServerError(
            "name two interviews (A B) or a review item (--item N)",
            hint="see `syncserver respondents candidates`",
        )
    return _id(args.ids[0]), _id(args.ids[1])


def _when(t: datetime.datetime | None) -> str:
    return "" if t is None else f"{t:%Y-%m-%d %H:%M}"


def _score(s: float | None) -> str:
    return "" if s is None else f"{s:5.1f}"


def _identity(who: rs.IdentityAnswers | None) -> str:
    if who is None:
        return "(no identity answers)"
    return (
        f"name={who.name or '-'}  sex={who.sex or '-'}  born={who.birth_year or '-'}  "
        f"province={who.province_of_origin or '-'}  left={who.departure_year or '-'}"
    )


SENSITIVE_NOTE = (
    "(identity answers shown: this access is recorded in the audit log; do not copy them anywhere)"
)


# -- commands ----------------------------------------------------------------------------


def _candidates(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        items = rs.list_candidates(project, state=None if args.all else "open", limit=args.limit)
    if not items:
        print("the review queue is empty" if not args.all else "no review items")
        return 0
    print(f"{'item':>6}  {'score':>5}  {'levels':<24} {'state':<8}  interviews")
    for c in items:
        print(f"{c.id:>6}  {_score(c.score):>5}  {c.levels or '-':<24} {c.state:<8}  {c.a}  {c.b}")
    if not args.all:
        print(
            "decide: `syncserver respondents link --item N` (same person) or "
            "`syncserver respondents distinct --item N`; look first with "
            "`syncserver respondents show N --include-sensitive`"
        )
    return 0


def _show(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        if re.fullmatch("[0-9]{1,18}", args.id):
            c = rs.get_candidate(project, int(args.id))
            sides = [rs.respondent(project, c.a), rs.respondent(project, c.b)]
            print(f"review item {c.id}: {c.state}, score {_score(c.score).strip()}, "
                  f"levels {c.levels or '-'}")  # fmt: skip
            print(f"  {c.a}  and  {c.b}")
        else:
            c = None
            sides = [rs.respondent(project, _id(args.id))]
        who: dict[uuid.UUID, rs.IdentityAnswers] = {}
        if args.include_sensitive:
            records = [m.record_id for side in sides for m in side.members]
            who = rs.identity_of(project, records, actor=cli_actor(), now=now())
    for side in sides:
        _print_respondent(side, who if args.include_sensitive else None)
    if args.include_sensitive:
        print(SENSITIVE_NOTE, file=sys.stderr)
    return 0


def _print_respondent(r: rs.Respondent, who: dict[uuid.UUID, rs.IdentityAnswers] | None) -> None:
    print(f"respondent {r.respondent_id}: {len(r.members)} interview(s)")
    for m in r.members:
        print(f"  interview {m.record_id}  {m.form}  received {_when(m.received)}  {m.state}")
        if who is not None:
            print(f"      {_identity(who.get(m.record_id))}")
    if r.links:
        print("  links:")
    for lk in r.links:
        removed = f"  removed {_when(lk.removed)} by {lk.removed_by}" if lk.removed else ""
        print(
            f"    #{lk.id} {lk.a} - {lk.b}  {lk.how:<6} {_score(lk.score)} "
            f"{lk.levels or '':<22} {_when(lk.created)} by {lk.actor}{removed}"
        )
    if r.candidates:
        print("  review items:")
    for c in r.candidates:
        print(
            f"    item {c.id:<5} {c.state:<8} {_score(c.score)} {c.levels or '':<22} {c.a} - {c.b}"
        )


def _link(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        a, b = _pair(args, project)
        cluster = rs.link(project, a, b, actor=cli_actor(), now=now())
    print(f"linked: {a} and {b} are respondent {cluster}")
    return 0


def _distinct(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        a, b = _pair(args, project)
        rs.mark_distinct(project, a, b, actor=cli_actor(), now=now())
    print(f"recorded: {a} and {b} are different people; they will not be linked automatically")
    return 0


def _unlink(args: argparse.Namespace, opened: Opened) -> int:
    record = _id(args.record_id)
    with opened(args) as project:
        old, new = rs.unlink(project, record, actor=cli_actor(), now=now())
    print(f"unlinked: interview {record} left respondent {old}; it is now respondent {new}")
    return 0


def _stats(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        s = rs.stats(project)
    for k in ("interviews", "respondents", "pending"):
        print(f"{k:<16} {s.get(k, 0)}")
    for k, v in sorted(s.items()):
        if k.startswith(("links_", "review_")):
            print(f"{k:<16} {v}")
    return 0


def _progress(done: int, total: int) -> None:
    print(f"\r  {done}/{total} interviews", end="" if done < total else "\n", file=sys.stderr)


def _rebuild(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        matcher = rs.Matcher.for_project(project)
        actor = cli_actor()
        report = rs.rebuild(
            project,
            matcher,
            now=now(),
            everything=args.everything,
            actor=actor,
            progress=_progress,
        )
        pending = rs.match_pending(project, matcher, now=now(), actor=actor)
    print(
        f"rebuilt: {report.interviews + pending.interviews} interviews matched, "
        f"{report.linked + pending.linked} linked, {report.queued + pending.queued} queued"
    )
    return 0


def _estimate(args: argparse.Namespace, opened: Opened) -> int:
    with opened(args) as project:
        matcher = rs.Matcher.for_project(project)
        weights, pairs = rs.estimate_from_links(project, matcher.weights)
    if pairs < args.min_pairs:
        raise SyncServerError(
            f"only {pairs} linked pairs carry their comparison levels; at least "
            f"{args.min_pairs} are needed",
            hint="review more of the queue first, or lower --min-pairs",
        )
    out = Path(args.output)
    out.write_text(
        rs.render_weights(weights, header=f"re-estimated from {pairs} linked pairs"),
        encoding="utf-8",
    )
    print(f"wrote {out} (weights v{weights.version}, m from {pairs} linked pairs)")
    print(f'use it: copy it into the project and set [respondents] weights = "{out.name}"')
    return 0


# -- parser ------------------------------------------------------------------------------


def register(
    subparsers: Any, project_options: Callable[[argparse.ArgumentParser], None], opened: Opened
) -> argparse.ArgumentParser:
    """Add ``respondents`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "respondents",
        help="the same person counted once: review queue and links",
        description="Interviews that are probably the same person are linked into one "
        "respondent; unclear pairs wait in a review queue. Every decision is an audit entry.",
    )
    sub = p.add_subparsers(dest="respondents_command", metavar="ACTION")

    def add(name: str, fn: Callable[[argparse.Namespace, Opened], int], help: str) -> Any:
        q = sub.add_parser(name, help=help)
        project_options(q)
        q.set_defaults(func=lambda args: fn(args, opened))
        return q

    c = add("candidates", _candidates, "list the review queue, highest score first")
    c.add_argument("--all", action="store_true", help="include decided items")
    c.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    s = add("show", _show, "a respondent (by interview or respondent id) or a review item")
    s.add_argument("id", metavar="ID", help="interview id, respondent id, or review item number")
    s.add_argument(
        "--include-sensitive",
        action="store_true",
        help="show the identity answers (decrypted; the access is logged)",
    )
    for name, fn, text in (
        ("link", _link, "decide: the same person (their interviews become one respondent)"),
        ("distinct", _distinct, "decide: different people (never linked automatically)"),
    ):
        q = add(name, fn, text)
        q.add_argument("ids", nargs="*", metavar="INTERVIEW", help="two interview ids")
        q.add_argument("--item", type=int, metavar="N", help="a review item instead")
    u = add("unlink", _unlink, "take an interview out of its respondent")
    u.add_argument("record_id", metavar="INTERVIEW")
    add("stats", _stats, "counts of interviews, respondents, links and review items")
    r = add("rebuild", _rebuild, "file identity tokens again and match (after an upgrade)")
    r.add_argument(
        "--everything", action="store_true", help="every interview, not only those without"
    )
    e = add("estimate", _estimate, "re-estimate the m weights from the links (docs/dedup.md)")
    e.add_argument("-o", "--output", required=True, metavar="FILE")
    e.add_argument("--min-pairs", type=int, default=200, help="refuse with fewer (default 200)")
    return p
