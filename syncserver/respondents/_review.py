"""What data managers do with respondents (docs/spec/respondent-matching.md §8.3).

The review queue holds pairs of interviews that may be the same person. A manager
decides each: :func:`link` (same person: their clusters merge) or :func:`mark_distinct`
(different people: never linked or queued again, automatically). :func:`unlink` takes
an interview out of its cluster and records that it is not the others. Nothing is ever
deleted: a removed link keeps its row with who removed it and when, and every decision
is an audit entry. :func:`respondent` shows a cluster with its whole history.
"""

from __future__ import annotations

import datetime
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Literal

from ..audit.entries import AuditEntry, append, log_key_use
from ..errors import NotFound, ReviewConflict
from ..project import Project
from . import _store as st
from ._identity import IdentityAnswers
from ._rebuild import identities
from ._weights import Weights, estimate

__all__ = [
    "Candidate",
    "get_candidate",
    "Link",
    "Member",
    "Respondent",
    "identity_of",
    "link",
    "list_candidates",
    "mark_distinct",
    "respondent",
    "stats",
    "unlink",
]

CandidateState = Literal["open", "linked", "distinct", "settled"]


def _ms(t: datetime.datetime) -> int:
    return int(t.timestamp() * 1000)


def _dt(ms: int | None) -> datetime.datetime | None:
    return None if ms is None else datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


def _u(b: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=b)


@dataclass(frozen=True)
class Candidate:
    """A pair of interviews in the review queue, or decided."""

    id: int
    a: uuid.UUID
    b: uuid.UUID
    score: float | None
    levels: str | None
    state: CandidateState
    created: datetime.datetime
    decided: datetime.datetime | None
    decided_by: str | None
    #: The respondent (cluster) of each side now.
    respondent_a: uuid.UUID | None
    respondent_b: uuid.UUID | None


_CANDIDATE_SQL = (
    "SELECT c.id, c.a, c.b, c.score, c.levels, c.state, c.created_ms, c.decided_ms,"
    " c.decided_by, ra.cluster_id, rb.cluster_id FROM respondent_candidates c"
    " LEFT JOIN respondents ra ON ra.record_id = c.a"
    " LEFT JOIN respondents rb ON rb.record_id = c.b"
)


def _candidate(r: tuple[object, ...]) -> Candidate:
    return Candidate(
        id=r[0],  # type: ignore[arg-type]
        a=_u(r[1]),  # type: ignore[arg-type]
        b=_u(r[2]),  # type: ignore[arg-type]
        score=r[3],  # type: ignore[arg-type]
        levels=r[4],  # type: ignore[arg-type]
        state=r[5],  # type: ignore[arg-type]
        created=_dt(r[6]),  # type: ignore[arg-type]
        decided=_dt(r[7]),  # type: ignore[arg-type]
        decided_by=r[8],  # type: ignore[arg-type]
        respondent_a=_u(r[9]) if r[9] else None,  # type: ignore[arg-type]
        respondent_b=_u(r[10]) if r[10] else None,  # type: ignore[arg-type]
    )


def list_candidates(
    project: Project, *, state: CandidateState | None = "open", limit: int = 100
) -> list[Candidate]:
    """Review items, highest score first (``state=None``: every state)."""
    where, args = ("WHERE c.state = ?", (state,)) if state else ("", ())
    rows = project.store.read_sync(
        lambda c: c.execute(
            f"{_CANDIDATE_SQL} {where} ORDER BY c.score DESC, c.id LIMIT ?", (*args, limit)
        ).fetchall()
    )
    return [_candidate(r) for r in rows]


def get_candidate(project: Project, candidate_id: int) -> Candidate:
    row = project.store.read_sync(
        lambda c: c.execute(f"{_CANDIDATE_SQL} WHERE c.id = ?", (candidate_id,)).fetchone()
    )
    if row is None:
        raise NotFound(
            f"no review item {candidate_id}", hint="see `syncserver respondents candidates`"
        )
    return _candidate(row)


def _cluster(conn: sqlite3.Connection, record: uuid.UUID) -> bytes:
    row = conn.execute(
        "SELECT cluster_id FROM respondents WHERE record_id = ?", (record.bytes,)
    ).fetchone()
    if row is None:
        raise NotFound(
            f"record {record} has no respondent",
            hint="check the id with `syncserver records show`; records of forms without"
            " identity questions are matched after `syncserver respondents rebuild`",
        )
    return bytes(row[0])


def link(
    project: Project,
    a: uuid.UUID,
    b: uuid.UUID,
    *,
    actor: str,
    now: datetime.datetime,
) -> uuid.UUID:
    """Decide that ``a`` and ``b`` are the same person: link them (their clusters merge).
    Returns the respondent id of the merged cluster."""
    if a == b:
        raise ReviewConflict("an interview cannot be linked to itself")
    at = _ms(now)

    def tx(conn: sqlite3.Connection) -> uuid.UUID:
        ca = _cluster(conn, a)
        cb = _cluster(conn, b)
        if ca == cb:
            raise ReviewConflict(
                "these interviews are already one respondent",
                hint=f"see `syncserver respondents show {a}`",
            )
        x, y = st.ordered(a.bytes, b.bytes)
        row = conn.execute(
            "SELECT score, levels FROM respondent_candidates WHERE a = ? AND b = ?", (x, y)
        ).fetchone()
        score, levels = row if row is not None else (None, None)
        conn.execute(
            "INSERT INTO respondent_links (a, b, how, score, levels, created_ms, actor)"
            " VALUES (?, ?, 'manual', ?, ?, ?, ?)",
            (x, y, score, levels, at, actor),
        )
        st.decide(conn, x, y, "linked", now_ms=at, by=actor)
        clusters = st.recluster(conn, [a.bytes])
        # open items within the merged cluster are moot, and earlier "different people"
        # decisions between its interviews are overridden by this later one
        st.settle_within(conn, set(clusters), now_ms=at, by=actor, states=("open", "distinct"))
        cluster = _u(clusters[a.bytes])
        append(
            conn,
            AuditEntry(
                kind="link",
                at_ms=at,
                actor=actor,
                subject=str(a),
                detail={"other": str(b), "how": "manual", "respondent": str(cluster)},
            ),
        )
        return cluster

    result: uuid.UUID = project.store.write_sync(tx)
    return result


def mark_distinct(
    project: Project,
    a: uuid.UUID,
    b: uuid.UUID,
    *,
    actor: str,
    now: datetime.datetime,
) -> None:
    """Decide that ``a`` and ``b`` are different people: the pair leaves the queue and
    their clusters are never linked automatically."""
    if a == b:
        raise ReviewConflict("an interview is always the same person as itself")
    at = _ms(now)

    def tx(conn: sqlite3.Connection) -> None:
        ca = _cluster(conn, a)
        cb = _cluster(conn, b)
        if ca == cb:
            raise ReviewConflict(
                "these interviews are linked as one respondent",
                hint=f"take one out first: `syncserver respondents unlink {a}`",
            )
        st.decide(conn, *st.ordered(a.bytes, b.bytes), "distinct", now_ms=at, by=actor)
        append(
            conn,
            AuditEntry(
                kind="review",
                at_ms=at,
                actor=actor,
                subject=str(a),
                detail={"decision": "distinct", "other": str(b)},
            ),
        )

    project.store.write_sync(tx)


def unlink(
    project: Project, record: uuid.UUID, *, actor: str, now: datetime.datetime
) -> tuple[uuid.UUID, uuid.UUID]:
    """Take ``record`` out of its cluster: its links in force are removed (kept, marked
    removed) and it is recorded as a different person from each other member. Returns
    (the old respondent id, the interview's respondent id now)."""
    at = _ms(now)

    def tx(conn: sqlite3.Connection) -> tuple[uuid.UUID, uuid.UUID]:
        old = _cluster(conn, record)
        links = st.active_links(conn, record.bytes)
        if not links:
            raise ReviewConflict(
                f"record {record} is not linked to any other interview",
                hint=f"see `syncserver respondents show {record}`",
            )
        others = st.cluster_members(conn, old) - {record.bytes}
        conn.executemany(
            "UPDATE respondent_links SET removed_ms = ?, removed_by = ? WHERE id = ?",
            [(at, actor, i) for i, _, _ in links],
        )
        for other in sorted(others):
            st.decide(conn, *st.ordered(record.bytes, other), "distinct", now_ms=at, by=actor)
        clusters = st.recluster(conn, [record.bytes, *others])
        now_cluster = _u(clusters[record.bytes])
        append(
            conn,
            AuditEntry(
                kind="unlink",
                at_ms=at,
                actor=actor,
                subject=str(record),
                detail={
                    "respondent": str(_u(old)),
                    "links_removed": len(links),
                    "now": str(now_cluster),
                },
            ),
        )
        return _u(old), now_cluster

    result: tuple[uuid.UUID, uuid.UUID] = project.store.write_sync(tx)
    return result


# -- looking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    record_id: uuid.UUID
    form: str
    received: datetime.datetime | None
    state: str  # pending | matched


@dataclass(frozen=True)
class Link:
    id: int
    a: uuid.UUID
    b: uuid.UUID
    how: str
    score: float | None
    levels: str | None
    created: datetime.datetime
    actor: str
    removed: datetime.datetime | None
    removed_by: str | None


@dataclass(frozen=True)
class Respondent:
    """One respondent: a cluster of interviews, its links (removed ones too) and the
    review items that touch it."""

    respondent_id: uuid.UUID
    members: list[Member]
    links: list[Link]
    candidates: list[Candidate]


def respondent(project: Project, record_or_respondent: uuid.UUID) -> Respondent:
    """The cluster holding a record, or the cluster with that respondent id."""
    key = record_or_respondent.bytes

    def read(conn: sqlite3.Connection) -> Respondent:
        row = conn.execute(
            "SELECT cluster_id FROM respondents WHERE record_id = ? OR cluster_id = ? LIMIT 1",
            (key, key),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"no respondent or interview {record_or_respondent}",
                hint="copy an id from `syncserver respondents candidates` or an export",
            )
        cluster = bytes(row[0])
        rows = conn.execute(
            "SELECT p.record_id, p.state, MAX(r.form_id || ' v' || r.form_version),"
            " MIN(r.received_ms) FROM respondents p LEFT JOIN records r"
            " ON r.record_id = p.record_id WHERE p.cluster_id = ?"
            " GROUP BY p.record_id ORDER BY p.seq",
            (cluster,),
        ).fetchall()
        members = [Member(_u(r[0]), r[2] or "", _dt(r[3]), r[1]) for r in rows]
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        links = [
            Link(i, _u(a), _u(b), how, score, lv, _dt(c), actor, _dt(rm), rb)  # type: ignore[arg-type]
            for i, a, b, how, score, lv, c, actor, rm, rb in conn.execute(
                "SELECT id, a, b, how, score, levels, created_ms, actor, removed_ms,"
                f" removed_by FROM respondent_links WHERE a IN ({marks}) OR b IN ({marks})"
                " ORDER BY id",
                [*ids, *ids],
            )
        ]
        cands = [
            _candidate(r)
            for r in conn.execute(
                f"{_CANDIDATE_SQL} WHERE c.a IN ({marks}) OR c.b IN ({marks}) ORDER BY c.id",
                [*ids, *ids],
            )
        ]
        return Respondent(_u(cluster), members, links, cands)

    result: Respondent = project.store.read_sync(read)
    return result


def identity_of(
    project: Project,
    records: list[uuid.UUID],
    *,
    actor: str,
    now: datetime.datetime,
    purpose: str = "review respondents",
) -> dict[uuid.UUID, IdentityAnswers]:
    """Decrypt the identity answers of ``records`` for a person who must decide on them;
    the access is a ``key_use`` audit entry."""
    found = dict(identities(project, [r.bytes for r in records]))
    log_key_use(project.store, map(str, found), purpose=purpose, actor=actor, now=now)
    return found


def estimate_from_links(project: Project, base: Weights) -> tuple[Weights, int]:
    """§9: new m probabilities from the comparison levels of every link in force (the
    automatic ones a person has not undone, and the manual ones decided from the review
    queue); u and thresholds from ``base``. Returns the weights and the number of pairs."""
    codes = project.store.read_sync(
        lambda c: [
            r[0]
            for r in c.execute(
                "SELECT levels FROM respondent_links WHERE removed_ms IS NULL"
                " AND levels IS NOT NULL"
            )
        ]
    )
    source = (
        f"syncserver respondents estimate: m from {len(codes)} linked pairs;"
        f" u as in v{base.version}"
    )
    return estimate(base, codes, source=source), len(codes)


def stats(project: Project) -> dict[str, int]:
    """Counts for a summary: interviews, respondents, links, review items by state."""

    def read(conn: sqlite3.Connection) -> dict[str, int]:
        one = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT cluster_id), SUM(state = 'pending') FROM respondents"
        ).fetchone()
        out = {"interviews": one[0], "respondents": one[1], "pending": one[2] or 0}
        for how, n in conn.execute(
            "SELECT how, COUNT(*) FROM respondent_links WHERE removed_ms IS NULL GROUP BY how"
        ):
            out[f"links_{how}"] = n
        for state, n in conn.execute(
            "SELECT state, COUNT(*) FROM respondent_candidates GROUP BY state"
        ):
            out[f"review_{state}"] = n
        return out

    result: dict[str, int] = project.store.read_sync(read)
    return result
