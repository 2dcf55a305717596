"""What data managers do with respondents (docs/spec/respondent-matching.md §8.3).

The review queue holds pairs of interviews that may be the same person. A manager
decides each: :func:`link` (same person: their clusters merge) or :func:`mark_distinct`
(different people: never linked or queued again, automatically). :func:`unlink` takes
an interview out of its cluster and records that it is not the others. Nothing is ever
deleted: a removed link keeps its row with who removed it and when, and every decision
is an audit entry. :func:`respondent` shows a cluster with its whole history.

Each decision is one write that first takes the store's lock on clusters
(:meth:`~syncserver.store.RespondentsRepo.lock_clusters`, which matching passes take
too): two managers on two servers deciding on one pair at once are served one after
the other, and the second sees the first's outcome (e.g. "already one respondent").
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from .._time import from_ms, ms
from ..audit.entries import AuditEntry, append, log_key_use
from ..errors import NotFound, ReviewConflict
from ..project import Project
from ..store import CandidateState, LinkHow, RespondentState, StoredCandidate, Tx
from ._clusters import recluster
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


def _dt(value: int | None) -> datetime.datetime | None:
    return None if value is None else from_ms(value)


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


def _candidate(c: StoredCandidate) -> Candidate:
    return Candidate(
        id=c.id,
        a=c.a,
        b=c.b,
        score=c.score,
        levels=c.levels,
        state=c.state,
        created=from_ms(c.created_ms),
        decided=_dt(c.decided_ms),
        decided_by=c.decided_by,
        respondent_a=c.cluster_a,
        respondent_b=c.cluster_b,
    )


def list_candidates(
    project: Project, *, state: CandidateState | str | None = CandidateState.OPEN, limit: int = 100
) -> list[Candidate]:
    """Review items, highest score first (``state=None``: every state)."""
    wanted = None if state is None else CandidateState(state)
    rows = project.store.read_sync(lambda tx: tx.candidates.ranked(state=wanted, limit=limit))
    return [_candidate(r) for r in rows]


def get_candidate(project: Project, candidate_id: int) -> Candidate:
    row = project.store.read_sync(lambda tx: tx.candidates.get(candidate_id))
    if row is None:
        raise NotFound(
            f"no review item {candidate_id}", hint="see `syncserver respondents candidates`"
        )
    return _candidate(row)


def _cluster(tx: Tx, record: uuid.UUID) -> uuid.UUID:
    cluster = tx.respondents.cluster_of(record)
    if cluster is None:
        raise NotFound(
            f"record {record} has no respondent",
            hint="check the id with `syncserver records show`; records of forms without"
            " identity questions are matched after `syncserver respondents rebuild`",
        )
    return cluster


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
    at = ms(now)

    def tx(tx: Tx) -> uuid.UUID:
        tx.respondents.lock_clusters()  # one decision at a time, on any server
        ca = _cluster(tx, a)
        cb = _cluster(tx, b)
        if ca == cb:
            raise ReviewConflict(
                "these interviews are already one respondent",
                hint=f"see `syncserver respondents show {a}`",
            )
        item = tx.candidates.pair(a, b)
        tx.links.add(
            a,
            b,
            how=LinkHow.MANUAL,
            score=None if item is None else item.score,
            levels=None if item is None else item.levels,
            at_ms=at,
            actor=actor,
        )
        tx.candidates.decide(a, b, CandidateState.LINKED, at_ms=at, by=actor)
        clusters = recluster(tx, [a])
        # open items within the merged cluster are moot, and earlier "different people"
        # decisions between its interviews are overridden by this later one
        tx.candidates.settle_within(
            set(clusters),
            states=(CandidateState.OPEN, CandidateState.DISTINCT),
            at_ms=at,
            by=actor,
        )
        cluster = clusters[a]
        append(
            tx,
            AuditEntry(
                kind="link",
                at_ms=at,
                actor=actor,
                subject=str(a),
                detail={"other": str(b), "how": LinkHow.MANUAL.value, "respondent": str(cluster)},
            ),
        )
        return cluster

    return project.store.write_sync(tx)


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
    at = ms(now)

    def tx(tx: Tx) -> None:
        tx.respondents.lock_clusters()
        ca = _cluster(tx, a)
        cb = _cluster(tx, b)
        if ca == cb:
            raise ReviewConflict(
                "these interviews are linked as one respondent",
                hint=f"take one out first: `syncserver respondents unlink {a}`",
            )
        tx.candidates.decide(a, b, CandidateState.DISTINCT, at_ms=at, by=actor)
        append(
            tx,
            AuditEntry(
                kind="review",
                at_ms=at,
                actor=actor,
                subject=str(a),
                detail={"decision": CandidateState.DISTINCT.value, "other": str(b)},
            ),
        )

    project.store.write_sync(tx)


def unlink(
    project: Project, record: uuid.UUID, *, actor: str, now: datetime.datetime
) -> tuple[uuid.UUID, uuid.UUID]:
    """Take ``record`` out of its cluster: its links in force are removed (kept, marked
    removed) and it is recorded as a different person from each other member. Returns
    (the old respondent id, the interview's respondent id now)."""
    at = ms(now)

    def tx(tx: Tx) -> tuple[uuid.UUID, uuid.UUID]:
        tx.respondents.lock_clusters()
        old = _cluster(tx, record)
        links = tx.links.in_force(record)
        if not links:
            raise ReviewConflict(
                f"record {record} is not linked to any other interview",
                hint=f"see `syncserver respondents show {record}`",
            )
        others = tx.respondents.members(old) - {record}
        tx.links.remove([lk.id for lk in links], at_ms=at, by=actor)
        for other in sorted(others):
            tx.candidates.decide(record, other, CandidateState.DISTINCT, at_ms=at, by=actor)
        clusters = recluster(tx, [record, *others])
        now_cluster = clusters[record]
        append(
            tx,
            AuditEntry(
                kind="unlink",
                at_ms=at,
                actor=actor,
                subject=str(record),
                detail={
                    "respondent": str(old),
                    "links_removed": len(links),
                    "now": str(now_cluster),
                },
            ),
        )
        return old, now_cluster

    return project.store.write_sync(tx)


# -- looking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    record_id: uuid.UUID
    form: str
    received: datetime.datetime | None
    state: RespondentState


@dataclass(frozen=True)
class Link:
    id: int
    a: uuid.UUID
    b: uuid.UUID
    how: LinkHow
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

    def read(tx: Tx) -> Respondent:
        cluster = tx.respondents.find_cluster(record_or_respondent)
        if cluster is None:
            raise NotFound(
                f"no respondent or interview {record_or_respondent}",
                hint="copy an id from `syncserver respondents candidates` or an export",
            )
        members = [
            Member(m.record_id, m.form or "", _dt(m.received_ms), m.state)
            for m in tx.respondents.member_details(cluster)
        ]
        ids = [m.record_id for m in members]
        links = [
            Link(
                lk.id,
                lk.a,
                lk.b,
                lk.how,
                lk.score,
                lk.levels,
                from_ms(lk.created_ms),
                lk.actor,
                _dt(lk.removed_ms),
                lk.removed_by,
            )
            for lk in tx.links.touching(ids)
        ]
        cands = [_candidate(c) for c in tx.candidates.touching(ids)]
        return Respondent(cluster, members, links, cands)

    return project.store.read_sync(read)


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
    found = dict(identities(project, records))
    log_key_use(project.store, map(str, found), purpose=purpose, actor=actor, now=now)
    return found


def estimate_from_links(project: Project, base: Weights) -> tuple[Weights, int]:
    """§9: new m probabilities from the comparison levels of every link in force (the
    automatic ones a person has not undone, and the manual ones decided from the review
    queue); u and thresholds from ``base``. Returns the weights and the number of pairs."""
    codes = project.store.read_sync(lambda tx: tx.links.levels_in_force())
    source = (
        f"syncserver respondents estimate: m from {len(codes)} linked pairs;"
        f" u as in v{base.version}"
    )
    return estimate(base, codes, source=source), len(codes)


def stats(project: Project) -> dict[str, int]:
    """Counts for a summary: interviews, respondents, links, review items by state."""

    def read(tx: Tx) -> dict[str, int]:
        counts = tx.respondents.counts()
        out = {
            "interviews": counts.interviews,
            "respondents": counts.respondents,
            "pending": counts.pending,
        }
        for how, n in tx.links.count_in_force().items():
            out[f"links_{how}"] = n
        for state, n in tx.candidates.count_by_state().items():
            out[f"review_{state}"] = n
        return out

    return project.store.read_sync(read)
