"""PostgreSQL: respondents' keyed pseudonyms, their postings, links and the review queue
(docs/spec/respondent-matching.md §10; the SQLite reference: :mod:`..sqlite._respondents`).

Record ids are 16-byte ``bytea``; a pair is stored with ``a < b`` (bytewise, the order of
:class:`uuid.UUID`). Lists of ids or tokens travel as one array parameter
(``= ANY(%s)``): no statement grows with them, so none meets a limit on parameters, and
an empty list is an empty array (never ``IN ()``, which PostgreSQL refuses).

Several servers may run these methods at once on one database, each write in its own
``READ COMMITTED`` transaction. What that means here:

- **Allocated by sequence.** ``seq`` (an interview's registration number) and the ids of
  links and review items are identity columns: unique and increasing in the order the
  inserts ran (not the order they committed), with gaps where a transaction rolled back
  or an insert met a conflict. Nothing reads them as a count: :meth:`PgRespondents.registered`
  counts rows.
- **Atomic by statement.** :meth:`PgRespondents.register` inserts with ``ON CONFLICT
  (record_id) DO NOTHING`` and otherwise takes the existing row ``FOR UPDATE`` (a
  registration of the same record still committing elsewhere is waited for, then read);
  :meth:`PgCandidates.queue` is ``ON CONFLICT (a, b) DO NOTHING RETURNING id``,
  :meth:`PgCandidates.decide` one upsert; :meth:`PgPostings.file` ``ON CONFLICT DO
  NOTHING``.
- **Serialised by lock.** :meth:`PgRespondents.lock_clusters` and
  :meth:`PgRespondents.begin_pass` lock the one row of ``respondent_matching`` (``FOR
  UPDATE``, released at commit or rollback): matching passes, links, unlinks and review
  decisions run one after another across servers, each seeing (``READ COMMITTED``: a
  fresh snapshot per statement) what the one before it committed. The row also counts
  the passes committed, which tells a pass scored in an earlier snapshot whether another
  pass committed in between. :meth:`PgRespondents.waiting` with ``hold`` locks the rows
  of a pass's interviews, and :meth:`PgRespondents.recluster` those it regroups, in
  record-id order.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg

from schemas.ids import new_id

from .._respondents import (
    TOKEN_BYTES,
    CandidateState,
    ClusterMember,
    Interview,
    LinkHow,
    RespondentCounts,
    RespondentState,
    StoredCandidate,
    StoredLink,
)

if TYPE_CHECKING:
    from .._respondents import CandidatesRepo, LinksRepo, PostingsRepo, RespondentsRepo

__all__ = ["PgCandidates", "PgLinks", "PgPostings", "PgRespondents"]


def _ordered(x: uuid.UUID, y: uuid.UUID) -> tuple[bytes, bytes]:
    a, b = x.bytes, y.bytes
    return (a, b) if a < b else (b, a)


def _u(b: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(b))


def _uuids(blobs: list[bytes]) -> list[uuid.UUID]:
    """Many 16-byte ids as UUIDs, in one call (matching reads thousands per bundle)."""
    return msgspec.convert(blobs, list[uuid.UUID])


def _blobs(ids: Collection[uuid.UUID]) -> list[bytes]:
    return [r.bytes for r in ids]


def _scalar(conn: psycopg.Connection[Any], sql: str, args: Sequence[Any] = ()) -> int:
    row = conn.execute(sql, args).fetchone()
    assert row is not None  # an aggregate, or the one row of respondent_matching
    return int(row[0])


def _split(postings: bytes) -> list[bytes]:
    return [postings[i : i + TOKEN_BYTES] for i in range(0, len(postings), TOKEN_BYTES)]


class PgRespondents:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def register(
        self,
        record_id: uuid.UUID,
        *,
        token_version: int,
        tokens: bytes,
        postings: Sequence[bytes],
        state: RespondentState,
        at_ms: int,
    ) -> bool:
        rid = record_id.bytes
        joined = b"".join(postings)
        respondent = new_id().bytes  # a new interview's respondent id, its own cluster
        added = self._c.execute(
            "INSERT INTO respondents (record_id, respondent_id, cluster_id, token_version,"
            " tokens, postings, state, registered_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (record_id) DO NOTHING RETURNING seq",
            (rid, respondent, respondent, token_version, tokens, joined, state.value, at_ms),
        ).fetchone()
        if added is not None:
            return True
        # Registered before (or by a transaction that committed while this insert waited
        # for it): the row, locked until this transaction ends.
        row = self._c.execute(
            "SELECT seq, tokens, postings, token_version FROM respondents"
            " WHERE record_id = %s FOR UPDATE",
            (rid,),
        ).fetchone()
        assert row is not None  # the conflict was on this record's committed row
        seq, old_tokens, old_postings, old_version = row
        if bytes(old_tokens) == tokens and old_version == token_version:
            return False
        self._c.execute(
            "DELETE FROM respondent_postings WHERE seq = %s AND token = ANY(%s::bytea[])",
            (seq, _split(bytes(old_postings))),
        )
        self._c.execute(
            "UPDATE respondents SET tokens = %s, postings = %s, token_version = %s, state = %s"
            " WHERE seq = %s",
            (tokens, joined, token_version, state.value, seq),
        )
        return True

    def registered(self) -> int:
        return _scalar(self._c, "SELECT COUNT(*) FROM respondents")

    def lock_clusters(self) -> None:
        self._c.execute("SELECT passes FROM respondent_matching FOR UPDATE")

    def passes(self) -> int:
        return _scalar(self._c, "SELECT passes FROM respondent_matching")

    def begin_pass(self) -> int:
        # Waits for a pass (or a lock_clusters) committing elsewhere, then counts on top
        # of what it committed.
        return _scalar(
            self._c, "UPDATE respondent_matching SET passes = passes + 1 RETURNING passes - 1"
        )

    def waiting(
        self, record_ids: Collection[uuid.UUID], *, hold: bool = False
    ) -> dict[uuid.UUID, bytes]:
        if not record_ids:
            return {}
        rows = self._c.execute(
            "SELECT record_id, tokens FROM respondents WHERE record_id = ANY(%s::bytea[])"
            " AND state = 'pending'" + (" ORDER BY record_id FOR UPDATE" if hold else ""),
            (_blobs(record_ids),),
        ).fetchall()
        return {_u(rid): bytes(tokens) for rid, tokens in rows}

    def seqs(self, record_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not record_ids:
            return {}
        rows = self._c.execute(
            "SELECT seq, record_id FROM respondents WHERE record_id = ANY(%s::bytea[])",
            (_blobs(record_ids),),
        ).fetchall()
        return {_u(rid): int(seq) for seq, rid in rows}

    def interviews(self, seqs: Collection[int]) -> dict[int, Interview]:
        if not seqs:
            return {}
        rows = self._c.execute(
            "SELECT seq, record_id, tokens FROM respondents WHERE seq = ANY(%s::bigint[])",
            (list(seqs),),
        ).fetchall()
        ids = _uuids([bytes(r[1]) for r in rows])
        return {
            seq: Interview(seq=seq, record_id=rid, tokens=bytes(tokens))
            for (seq, _, tokens), rid in zip(rows, ids, strict=True)
        }

    def cluster_of(self, record_id: uuid.UUID) -> uuid.UUID | None:
        row = self._c.execute(
            "SELECT cluster_id FROM respondents WHERE record_id = %s", (record_id.bytes,)
        ).fetchone()
        return None if row is None else _u(row[0])

    def clusters_of(self, record_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        if not record_ids:
            return {}
        rows = self._c.execute(
            "SELECT record_id, cluster_id FROM respondents WHERE record_id = ANY(%s::bytea[])",
            (_blobs(record_ids),),
        ).fetchall()
        return {_u(rid): _u(cluster) for rid, cluster in rows}

    def members(self, cluster_id: uuid.UUID) -> set[uuid.UUID]:
        rows = self._c.execute(
            "SELECT record_id FROM respondents WHERE cluster_id = %s", (cluster_id.bytes,)
        ).fetchall()
        return {_u(r[0]) for r in rows}

    def recluster(self, component: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        if not component:
            return {}
        # The rows locked (in one order) before the founder is chosen: a registration or
        # another regrouping of them waits until this transaction ends.
        rows = self._c.execute(
            "SELECT record_id, seq, respondent_id, cluster_id FROM respondents"
            " WHERE record_id = ANY(%s::bytea[]) ORDER BY record_id FOR UPDATE",
            (_blobs(component),),
        ).fetchall()
        if not rows:
            return {}
        founder = bytes(min(rows, key=lambda r: r[1])[2])
        changed = [bytes(r[0]) for r in rows if bytes(r[3]) != founder]
        if changed:
            self._c.execute(
                "UPDATE respondents SET cluster_id = %s WHERE record_id = ANY(%s::bytea[])",
                (founder, changed),
            )
        cluster = _u(founder)
        return {_u(r[0]): cluster for r in rows}

    def mark_matched(self, record_id: uuid.UUID) -> None:
        self._c.execute(
            "UPDATE respondents SET state = %s WHERE record_id = %s",
            (RespondentState.MATCHED.value, record_id.bytes),
        )

    def pending(self) -> list[uuid.UUID]:
        # The state as a literal, as in the partial index respondents_pending.
        rows = self._c.execute(
            "SELECT record_id FROM respondents WHERE state = 'pending' ORDER BY seq"
        ).fetchall()
        return _uuids([bytes(r[0]) for r in rows])

    def find_cluster(self, record_or_respondent: uuid.UUID) -> uuid.UUID | None:
        key = record_or_respondent.bytes
        row = self._c.execute(
            "SELECT cluster_id FROM respondents WHERE record_id = %s OR cluster_id = %s LIMIT 1",
            (key, key),
        ).fetchone()
        return None if row is None else _u(row[0])

    def member_details(self, cluster_id: uuid.UUID) -> list[ClusterMember]:
        # Grouped by seq (the key, on which record_id and state depend); the form as
        # text in byte order (form_id is COLLATE "C"), as SQLite compares it.
        rows = self._c.execute(
            "SELECT p.record_id, p.state, MAX(r.form_id || ' v' || r.form_version),"
            " MIN(r.received_ms) FROM respondents p LEFT JOIN records r"
            " ON r.record_id = p.record_id WHERE p.cluster_id = %s"
            " GROUP BY p.seq ORDER BY p.seq",
            (cluster_id.bytes,),
        ).fetchall()
        return [
            ClusterMember(
                record_id=_u(rid), state=RespondentState(state), form=form, received_ms=received
            )
            for rid, state, form, received in rows
        ]

    def needing_tokens(self, token_version: int, *, everything: bool = False) -> list[uuid.UUID]:
        rows = self._c.execute(
            "SELECT r.record_id FROM records r LEFT JOIN respondents p"
            " ON p.record_id = r.record_id WHERE r.status <> 'superseded'"
            + ("" if everything else " AND (p.seq IS NULL OR p.token_version <> %s)")
            + " GROUP BY r.record_id ORDER BY MIN(r.received_ms), r.record_id",
            () if everything else (token_version,),
        ).fetchall()
        return _uuids([bytes(r[0]) for r in rows])

    def counts(self) -> RespondentCounts:
        row = self._c.execute(
            "SELECT COUNT(*), COUNT(DISTINCT cluster_id),"
            " COUNT(*) FILTER (WHERE state = 'pending') FROM respondents"
        ).fetchone()
        assert row is not None
        interviews, respondents, pending = row
        return RespondentCounts(interviews=interviews, respondents=respondents, pending=pending)


class PgPostings:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def file(self, record_ids: Collection[uuid.UUID]) -> None:
        if not record_ids:
            return
        rows = self._c.execute(
            "SELECT seq, postings FROM respondents WHERE record_id = ANY(%s::bytea[])",
            (_blobs(record_ids),),
        ).fetchall()
        pairs = sorted((token, int(seq)) for seq, blob in rows for token in _split(bytes(blob)))
        if not pairs:
            return
        self._c.execute(
            "INSERT INTO respondent_postings (token, seq)"
            " SELECT * FROM unnest(%s::bytea[], %s::bigint[]) ON CONFLICT DO NOTHING",
            ([t for t, _ in pairs], [s for _, s in pairs]),
        )

    def lookup(self, tokens: Collection[bytes]) -> dict[bytes, list[int]]:
        if not tokens:
            return {}
        out: dict[bytes, list[int]] = {}
        for token, seq in self._c.execute(
            "SELECT token, seq FROM respondent_postings WHERE token = ANY(%s::bytea[])"
            " ORDER BY token, seq",
            (list(tokens),),
        ):
            out.setdefault(bytes(token), []).append(int(seq))
        return out

    def count(self, token: bytes, cap: int) -> int:
        return _scalar(
            self._c,
            "SELECT COUNT(*) FROM (SELECT 1 FROM respondent_postings WHERE token = %s"
            " LIMIT %s) AS filed",
            (token, cap),
        )


_LINK_COLUMNS = "id, a, b, how, score, levels, created_ms, actor, removed_ms, removed_by"


def _link(r: Any) -> StoredLink:
    return StoredLink(
        id=r[0],
        a=_u(r[1]),
        b=_u(r[2]),
        how=LinkHow(r[3]),
        score=r[4],
        levels=r[5],
        created_ms=r[6],
        actor=r[7],
        removed_ms=r[8],
        removed_by=r[9],
    )


class PgLinks:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def add(
        self,
        x: uuid.UUID,
        y: uuid.UUID,
        *,
        how: LinkHow,
        score: float | None,
        levels: str | None,
        at_ms: int,
        actor: str,
    ) -> None:
        a, b = _ordered(x, y)
        self._c.execute(
            "INSERT INTO respondent_links (a, b, how, score, levels, created_ms, actor)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (a, b, how.value, score, levels, at_ms, actor),
        )

    def in_force(self, record_id: uuid.UUID) -> list[StoredLink]:
        # One branch per column, so that each uses its partial index.
        rid = record_id.bytes
        rows = self._c.execute(
            f"SELECT {_LINK_COLUMNS} FROM respondent_links WHERE removed_ms IS NULL AND a = %s"
            f" UNION ALL SELECT {_LINK_COLUMNS} FROM respondent_links"
            " WHERE removed_ms IS NULL AND b = %s",
            (rid, rid),
        ).fetchall()
        return [_link(r) for r in rows]

    def remove(self, link_ids: Collection[int], *, at_ms: int, by: str) -> None:
        if not link_ids:
            return
        self._c.execute(
            "UPDATE respondent_links SET removed_ms = %s, removed_by = %s"
            " WHERE id = ANY(%s::bigint[])",
            (at_ms, by, list(link_ids)),
        )

    def touching(self, record_ids: Collection[uuid.UUID]) -> list[StoredLink]:
        if not record_ids:
            return []
        ids = _blobs(record_ids)
        rows = self._c.execute(
            f"SELECT {_LINK_COLUMNS} FROM respondent_links"
            " WHERE a = ANY(%s::bytea[]) OR b = ANY(%s::bytea[]) ORDER BY id",
            (ids, ids),
        ).fetchall()
        return [_link(r) for r in rows]

    def levels_in_force(self) -> list[str]:
        rows = self._c.execute(
            "SELECT levels FROM respondent_links WHERE removed_ms IS NULL"
            " AND levels IS NOT NULL ORDER BY id"
        ).fetchall()
        return [r[0] for r in rows]

    def count_in_force(self) -> dict[LinkHow, int]:
        rows = self._c.execute(
            "SELECT how, COUNT(*) FROM respondent_links WHERE removed_ms IS NULL GROUP BY how"
        ).fetchall()
        return {LinkHow(how): int(n) for how, n in rows}


_CANDIDATE_SQL = (
    "SELECT c.id, c.a, c.b, c.score, c.levels, c.state, c.created_ms, c.decided_ms,"
    " c.decided_by, ra.cluster_id, rb.cluster_id FROM respondent_candidates c"
    " LEFT JOIN respondents ra ON ra.record_id = c.a"
    " LEFT JOIN respondents rb ON rb.record_id = c.b"
)


def _candidate(r: Any) -> StoredCandidate:
    return StoredCandidate(
        id=r[0],
        a=_u(r[1]),
        b=_u(r[2]),
        score=r[3],
        levels=r[4],
        state=CandidateState(r[5]),
        created_ms=r[6],
        decided_ms=r[7],
        decided_by=r[8],
        cluster_a=None if r[9] is None else _u(r[9]),
        cluster_b=None if r[10] is None else _u(r[10]),
    )


class PgCandidates:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def queue(
        self, x: uuid.UUID, y: uuid.UUID, *, score: float, levels: str, at_ms: int
    ) -> int | None:
        a, b = _ordered(x, y)
        row = self._c.execute(
            "INSERT INTO respondent_candidates (a, b, score, levels, state, created_ms)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (a, b) DO NOTHING RETURNING id",
            (a, b, score, levels, CandidateState.OPEN.value, at_ms),
        ).fetchone()
        return None if row is None else int(row[0])  # None: queued or decided before

    def decide(
        self, x: uuid.UUID, y: uuid.UUID, state: CandidateState, *, at_ms: int, by: str
    ) -> None:
        a, b = _ordered(x, y)
        self._c.execute(
            "INSERT INTO respondent_candidates (a, b, state, created_ms, decided_ms, decided_by)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (a, b) DO UPDATE SET"
            " state = EXCLUDED.state, decided_ms = EXCLUDED.decided_ms,"
            " decided_by = EXCLUDED.decided_by",
            (a, b, state.value, at_ms, at_ms, by),
        )

    def settle_within(
        self,
        members: Collection[uuid.UUID],
        *,
        states: Collection[CandidateState],
        at_ms: int,
        by: str,
    ) -> None:
        if len(members) < 2 or not states:
            return
        ids = _blobs(members)
        self._c.execute(
            "UPDATE respondent_candidates SET state = 'settled', decided_ms = %s,"
            " decided_by = %s WHERE state = ANY(%s::text[])"
            " AND a = ANY(%s::bytea[]) AND b = ANY(%s::bytea[])",
            (at_ms, by, [s.value for s in states], ids, ids),
        )

    def any_between(
        self, xs: Collection[uuid.UUID], ys: Collection[uuid.UUID], state: CandidateState
    ) -> bool:
        if not xs or not ys:
            return False
        bx, by = _blobs(xs), _blobs(ys)
        row = self._c.execute(
            "SELECT 1 FROM respondent_candidates WHERE state = %s AND"
            " ((a = ANY(%s::bytea[]) AND b = ANY(%s::bytea[]))"
            " OR (a = ANY(%s::bytea[]) AND b = ANY(%s::bytea[]))) LIMIT 1",
            (state.value, bx, by, by, bx),
        ).fetchone()
        return row is not None

    def pair(self, x: uuid.UUID, y: uuid.UUID) -> StoredCandidate | None:
        row = self._c.execute(
            f"{_CANDIDATE_SQL} WHERE c.a = %s AND c.b = %s", _ordered(x, y)
        ).fetchone()
        return None if row is None else _candidate(row)

    def get(self, candidate_id: int) -> StoredCandidate | None:
        row = self._c.execute(f"{_CANDIDATE_SQL} WHERE c.id = %s", (candidate_id,)).fetchone()
        return None if row is None else _candidate(row)

    def ranked(self, *, state: CandidateState | None, limit: int) -> list[StoredCandidate]:
        # NULLS LAST: an item without a score ranks last, as SQLite sorts NULL lowest.
        where, args = ("WHERE c.state = %s", (state.value,)) if state else ("", ())
        rows = self._c.execute(
            f"{_CANDIDATE_SQL} {where} ORDER BY c.score DESC NULLS LAST, c.id LIMIT %s",
            (*args, limit),
        ).fetchall()
        return [_candidate(r) for r in rows]

    def touching(self, record_ids: Collection[uuid.UUID]) -> list[StoredCandidate]:
        if not record_ids:
            return []
        ids = _blobs(record_ids)
        rows = self._c.execute(
            f"{_CANDIDATE_SQL} WHERE c.a = ANY(%s::bytea[]) OR c.b = ANY(%s::bytea[])"
            " ORDER BY c.id",
            (ids, ids),
        ).fetchall()
        return [_candidate(r) for r in rows]

    def count_by_state(self) -> dict[CandidateState, int]:
        rows = self._c.execute(
            "SELECT state, COUNT(*) FROM respondent_candidates GROUP BY state"
        ).fetchall()
        return {CandidateState(state): int(n) for state, n in rows}


if TYPE_CHECKING:  # mypy checks that these classes implement the interfaces

    def _implements(
        c: psycopg.Connection[Any],
    ) -> tuple[RespondentsRepo, PostingsRepo, LinksRepo, CandidatesRepo]:
        return PgRespondents(c), PgPostings(c), PgLinks(c), PgCandidates(c)
