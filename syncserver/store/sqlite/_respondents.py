"""SQLite: respondents' keyed pseudonyms, their postings, links and the review queue
(schema migration 2, docs/spec/respondent-matching.md §10).

Record ids are 16-byte blobs; a pair is stored with ``a < b`` (bytewise, which is the
order of :class:`uuid.UUID`). An interview's postings are kept in its row as one blob
(its tokens concatenated) besides the ``respondent_postings`` index, which holds them
only once the interview is filed. Lists of ids or tokens are read in chunks of
:data:`_CHUNK` (one statement each), well under SQLite's limit on parameters.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

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

__all__ = ["SqliteCandidates", "SqliteLinks", "SqlitePostings", "SqliteRespondents"]

_CHUNK = 500


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _ordered(x: uuid.UUID, y: uuid.UUID) -> tuple[bytes, bytes]:
    a, b = x.bytes, y.bytes
    return (a, b) if a < b else (b, a)


def _u(b: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=b)


def _uuids(blobs: list[bytes]) -> list[uuid.UUID]:
    """Many 16-byte ids as UUIDs, in one call (a fifth of the time of :func:`_u` each:
    matching reads thousands per bundle)."""
    return msgspec.convert(blobs, list[uuid.UUID])


def _split(postings: bytes) -> list[bytes]:
    return [postings[i : i + TOKEN_BYTES] for i in range(0, len(postings), TOKEN_BYTES)]


class SqliteRespondents:
    def __init__(self, conn: sqlite3.Connection) -> None:
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
        row = self._c.execute(
            "SELECT seq, tokens, postings, token_version FROM respondents WHERE record_id = ?",
            (rid,),
        ).fetchone()
        if row is None:
            # seq: the rowid SQLite allocates (max + 1: rows are never deleted, so seqs
            # are dense); the respondent id is new, and its own cluster.
            respondent = new_id().bytes
            self._c.execute(
                "INSERT INTO respondents (record_id, respondent_id, cluster_id, token_version,"
                " tokens, postings, state, registered_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rid,
                    respondent,
                    respondent,
                    token_version,
                    tokens,
                    b"".join(postings),
                    state,
                    at_ms,
                ),
            )
            return True
        seq, old_tokens, old_postings, old_version = row
        if old_tokens == tokens and old_version == token_version:
            return False
        self._c.executemany(
            "DELETE FROM respondent_postings WHERE token = ? AND seq = ?",
            [(token, seq) for token in _split(old_postings)],
        )
        self._c.execute(
            "UPDATE respondents SET tokens = ?, postings = ?, token_version = ?, state = ?"
            " WHERE seq = ?",
            (tokens, b"".join(postings), token_version, state, seq),
        )
        return True

    def registered(self) -> int:
        # The largest seq: SQLite's rowids are dense here (rows are never deleted, and a
        # rolled-back insert gives its rowid back), and MAX reads one index entry.
        (n,) = self._c.execute("SELECT COALESCE(MAX(seq), 0) FROM respondents").fetchone()
        return int(n)

    def lock_clusters(self) -> None:
        pass  # one writer: transactions never overlap

    def passes(self) -> int:
        return 0  # one process matches, under its matcher's lock: nothing to tell apart

    def begin_pass(self) -> int:
        return 0

    def waiting(
        self, record_ids: Collection[uuid.UUID], *, hold: bool = False
    ) -> dict[uuid.UUID, bytes]:
        out: dict[uuid.UUID, bytes] = {}
        for chunk in _chunks([r.bytes for r in record_ids]):
            for rid, tokens in self._c.execute(
                "SELECT record_id, tokens FROM respondents WHERE state = 'pending'"
                f" AND record_id IN ({_marks(len(chunk))})",
                chunk,
            ):
                out[_u(rid)] = tokens
        return out

    def seqs(self, record_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        out: dict[uuid.UUID, int] = {}
        for chunk in _chunks([r.bytes for r in record_ids]):
            for seq, rid in self._c.execute(
                f"SELECT seq, record_id FROM respondents WHERE record_id IN ({_marks(len(chunk))})",
                chunk,
            ):
                out[_u(rid)] = seq
        return out

    def interviews(self, seqs: Collection[int]) -> dict[int, Interview]:
        out: dict[int, Interview] = {}
        for chunk in _chunks(sorted(set(seqs))):
            rows = self._c.execute(
                "SELECT seq, record_id, tokens FROM respondents"
                f" WHERE seq IN ({_marks(len(chunk))})",
                chunk,
            ).fetchall()
            ids = _uuids([r[1] for r in rows])
            for (seq, _, tokens), rid in zip(rows, ids, strict=True):
                out[seq] = Interview(seq=seq, record_id=rid, tokens=tokens)
        return out

    def cluster_of(self, record_id: uuid.UUID) -> uuid.UUID | None:
        row = self._c.execute(
            "SELECT cluster_id FROM respondents WHERE record_id = ?", (record_id.bytes,)
        ).fetchone()
        return None if row is None else _u(row[0])

    def clusters_of(self, record_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        out: dict[uuid.UUID, uuid.UUID] = {}
        for chunk in _chunks([r.bytes for r in record_ids]):
            for rid, cluster in self._c.execute(
                "SELECT record_id, cluster_id FROM respondents"
                f" WHERE record_id IN ({_marks(len(chunk))})",
                chunk,
            ):
                out[_u(rid)] = _u(cluster)
        return out

    def members(self, cluster_id: uuid.UUID) -> set[uuid.UUID]:
        return {
            _u(r[0])
            for r in self._c.execute(
                "SELECT record_id FROM respondents WHERE cluster_id = ?", (cluster_id.bytes,)
            )
        }

    def recluster(self, component: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        rows: list[tuple[bytes, int, bytes, bytes]] = []
        for chunk in _chunks(sorted(r.bytes for r in component)):
            rows += self._c.execute(
                "SELECT record_id, seq, respondent_id, cluster_id FROM respondents"
                f" WHERE record_id IN ({_marks(len(chunk))})",
                chunk,
            ).fetchall()
        if not rows:
            return {}
        founder = min(rows, key=lambda r: r[1])[2]
        changed = [(founder, r[0]) for r in rows if r[3] != founder]
        self._c.executemany("UPDATE respondents SET cluster_id = ? WHERE record_id = ?", changed)
        cluster = _u(founder)
        return {_u(r[0]): cluster for r in rows}

    def mark_matched(self, record_id: uuid.UUID) -> None:
        self._c.execute(
            "UPDATE respondents SET state = ? WHERE record_id = ?",
            (RespondentState.MATCHED, record_id.bytes),
        )

    def pending(self) -> list[uuid.UUID]:
        # The state as a literal, as in the partial index respondents_pending: with a
        # bound parameter SQLite could not use that index.
        return [
            _u(r[0])
            for r in self._c.execute(
                "SELECT record_id FROM respondents WHERE state = 'pending' ORDER BY seq"
            )
        ]

    def find_cluster(self, record_or_respondent: uuid.UUID) -> uuid.UUID | None:
        key = record_or_respondent.bytes
        row = self._c.execute(
            "SELECT cluster_id FROM respondents WHERE record_id = ? OR cluster_id = ? LIMIT 1",
            (key, key),
        ).fetchone()
        return None if row is None else _u(row[0])

    def member_details(self, cluster_id: uuid.UUID) -> list[ClusterMember]:
        return [
            ClusterMember(
                record_id=_u(rid), state=RespondentState(state), form=form, received_ms=received
            )
            for rid, state, form, received in self._c.execute(
                "SELECT p.record_id, p.state, MAX(r.form_id || ' v' || r.form_version),"
                " MIN(r.received_ms) FROM respondents p LEFT JOIN records r"
                " ON r.record_id = p.record_id WHERE p.cluster_id = ?"
                " GROUP BY p.record_id ORDER BY p.seq",
                (cluster_id.bytes,),
            )
        ]

    def needing_tokens(self, token_version: int, *, everything: bool = False) -> list[uuid.UUID]:
        return [
            _u(r[0])
            for r in self._c.execute(
                "SELECT r.record_id FROM records r LEFT JOIN respondents p"
                " ON p.record_id = r.record_id WHERE r.status != 'superseded'"
                + ("" if everything else " AND (p.seq IS NULL OR p.token_version != ?)")
                + " GROUP BY r.record_id ORDER BY MIN(r.received_ms), r.record_id",
                () if everything else (token_version,),
            )
        ]

    def counts(self) -> RespondentCounts:
        interviews, respondents, pending = self._c.execute(
            "SELECT COUNT(*), COUNT(DISTINCT cluster_id), SUM(state = 'pending') FROM respondents"
        ).fetchone()
        return RespondentCounts(
            interviews=interviews, respondents=respondents, pending=pending or 0
        )


class SqlitePostings:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def file(self, record_ids: Collection[uuid.UUID]) -> None:
        # Sorted by token: postings are keyed by pseudonyms, which are random, so that
        # the inserts walk the index in order (docs/spec/respondent-matching.md §6).
        rows: list[tuple[bytes, int]] = []
        for chunk in _chunks([r.bytes for r in record_ids]):
            for seq, blob in self._c.execute(
                f"SELECT seq, postings FROM respondents WHERE record_id IN ({_marks(len(chunk))})",
                chunk,
            ):
                rows += [(token, seq) for token in _split(blob)]
        rows.sort()
        self._c.executemany(
            "INSERT OR IGNORE INTO respondent_postings (token, seq) VALUES (?, ?)", rows
        )

    def lookup(self, tokens: Collection[bytes]) -> dict[bytes, list[int]]:
        out: dict[bytes, list[int]] = {}
        for chunk in _chunks(list(tokens)):
            for token, seq in self._c.execute(
                f"SELECT token, seq FROM respondent_postings WHERE token IN ({_marks(len(chunk))})",
                chunk,
            ):
                out.setdefault(token, []).append(seq)
        return out

    def count(self, token: bytes, cap: int) -> int:
        (n,) = self._c.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM respondent_postings WHERE token = ? LIMIT ?)",
            (token, cap),
        ).fetchone()
        return int(n)


_LINK_COLUMNS = "id, a, b, how, score, levels, created_ms, actor, removed_ms, removed_by"


def _link(r: tuple[Any, ...]) -> StoredLink:
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


class SqliteLinks:
    def __init__(self, conn: sqlite3.Connection) -> None:
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
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (a, b, how, score, levels, at_ms, actor),
        )

    def in_force(self, record_id: uuid.UUID) -> list[StoredLink]:
        # One branch per column, so that each uses its partial index.
        rid = record_id.bytes
        return [
            _link(r)
            for r in self._c.execute(
                f"SELECT {_LINK_COLUMNS} FROM respondent_links WHERE removed_ms IS NULL AND a = ?"
                f" UNION ALL SELECT {_LINK_COLUMNS} FROM respondent_links"
                " WHERE removed_ms IS NULL AND b = ?",
                (rid, rid),
            )
        ]

    def remove(self, link_ids: Collection[int], *, at_ms: int, by: str) -> None:
        self._c.executemany(
            "UPDATE respondent_links SET removed_ms = ?, removed_by = ? WHERE id = ?",
            [(at_ms, by, i) for i in link_ids],
        )

    def touching(self, record_ids: Collection[uuid.UUID]) -> list[StoredLink]:
        found: dict[int, StoredLink] = {}  # by id: a link may touch two chunks
        for chunk in _chunks([r.bytes for r in record_ids]):
            marks = _marks(len(chunk))
            for r in self._c.execute(
                f"SELECT {_LINK_COLUMNS} FROM respondent_links"
                f" WHERE a IN ({marks}) OR b IN ({marks})",
                [*chunk, *chunk],
            ):
                found[r[0]] = _link(r)
        return [found[i] for i in sorted(found)]

    def levels_in_force(self) -> list[str]:
        return [
            r[0]
            for r in self._c.execute(
                "SELECT levels FROM respondent_links WHERE removed_ms IS NULL"
                " AND levels IS NOT NULL"
            )
        ]

    def count_in_force(self) -> dict[LinkHow, int]:
        return {
            LinkHow(how): n
            for how, n in self._c.execute(
                "SELECT how, COUNT(*) FROM respondent_links WHERE removed_ms IS NULL GROUP BY how"
            )
        }


_CANDIDATE_SQL = (
    "SELECT c.id, c.a, c.b, c.score, c.levels, c.state, c.created_ms, c.decided_ms,"
    " c.decided_by, ra.cluster_id, rb.cluster_id FROM respondent_candidates c"
    " LEFT JOIN respondents ra ON ra.record_id = c.a"
    " LEFT JOIN respondents rb ON rb.record_id = c.b"
)


def _candidate(r: tuple[Any, ...]) -> StoredCandidate:
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
        cluster_a=_u(r[9]) if r[9] else None,
        cluster_b=_u(r[10]) if r[10] else None,
    )


class SqliteCandidates:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def queue(
        self, x: uuid.UUID, y: uuid.UUID, *, score: float, levels: str, at_ms: int
    ) -> int | None:
        a, b = _ordered(x, y)
        cur = self._c.execute(
            "INSERT OR IGNORE INTO respondent_candidates (a, b, score, levels, state, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (a, b, score, levels, CandidateState.OPEN, at_ms),
        )
        if cur.rowcount == 0:
            return None  # this pair was queued or decided before
        return int(cur.lastrowid or 0)

    def decide(
        self, x: uuid.UUID, y: uuid.UUID, state: CandidateState, *, at_ms: int, by: str
    ) -> None:
        a, b = _ordered(x, y)
        self._c.execute(
            "INSERT INTO respondent_candidates (a, b, state, created_ms, decided_ms, decided_by)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET state = excluded.state,"
            " decided_ms = excluded.decided_ms, decided_by = excluded.decided_by",
            (a, b, state, at_ms, at_ms, by),
        )

    def settle_within(
        self,
        members: Collection[uuid.UUID],
        *,
        states: Collection[CandidateState],
        at_ms: int,
        by: str,
    ) -> None:
        ms = {m.bytes for m in members}
        if len(ms) < 2 or not states:
            return
        # The pairs with a in a chunk and b among members, then each by id: a statement
        # naming every member twice would meet SQLite's limit on parameters in a large
        # cluster (999 in builds before 3.32, 32,766 since).
        wanted = [*states]
        inside: list[int] = []
        for chunk in _chunks(sorted(ms)):
            inside += [
                i
                for i, b in self._c.execute(
                    "SELECT id, b FROM respondent_candidates"
                    f" WHERE state IN ({_marks(len(wanted))}) AND a IN ({_marks(len(chunk))})",
                    [*wanted, *chunk],
                )
                if b in ms
            ]
        self._c.executemany(
            "UPDATE respondent_candidates SET state = 'settled', decided_ms = ?, decided_by = ?"
            " WHERE id = ?",
            [(at_ms, by, i) for i in inside],
        )

    def any_between(
        self, xs: Collection[uuid.UUID], ys: Collection[uuid.UUID], state: CandidateState
    ) -> bool:
        if not xs or not ys:
            return False
        bx = {x.bytes for x in xs}
        by = {y.bytes for y in ys}
        for chunk in _chunks(sorted(bx)):
            marks = _marks(len(chunk))
            for a, b in self._c.execute(
                "SELECT a, b FROM respondent_candidates WHERE state = ?"
                f" AND (a IN ({marks}) OR b IN ({marks}))",
                [state, *chunk, *chunk],
            ):
                if (a in bx and b in by) or (b in bx and a in by):
                    return True
        return False

    def pair(self, x: uuid.UUID, y: uuid.UUID) -> StoredCandidate | None:
        row = self._c.execute(
            f"{_CANDIDATE_SQL} WHERE c.a = ? AND c.b = ?", _ordered(x, y)
        ).fetchone()
        return None if row is None else _candidate(row)

    def get(self, candidate_id: int) -> StoredCandidate | None:
        row = self._c.execute(f"{_CANDIDATE_SQL} WHERE c.id = ?", (candidate_id,)).fetchone()
        return None if row is None else _candidate(row)

    def ranked(self, *, state: CandidateState | None, limit: int) -> list[StoredCandidate]:
        where, args = ("WHERE c.state = ?", (state,)) if state else ("", ())
        return [
            _candidate(r)
            for r in self._c.execute(
                f"{_CANDIDATE_SQL} {where} ORDER BY c.score DESC, c.id LIMIT ?", (*args, limit)
            )
        ]

    def touching(self, record_ids: Collection[uuid.UUID]) -> list[StoredCandidate]:
        found: dict[int, StoredCandidate] = {}  # by id: an item may touch two chunks
        for chunk in _chunks([r.bytes for r in record_ids]):
            marks = _marks(len(chunk))
            for r in self._c.execute(
                f"{_CANDIDATE_SQL} WHERE c.a IN ({marks}) OR c.b IN ({marks})",
                [*chunk, *chunk],
            ):
                found[r[0]] = _candidate(r)
        return [found[i] for i in sorted(found)]

    def count_by_state(self) -> dict[CandidateState, int]:
        return {
            CandidateState(state): n
            for state, n in self._c.execute(
                "SELECT state, COUNT(*) FROM respondent_candidates GROUP BY state"
            )
        }


if TYPE_CHECKING:  # mypy checks that these classes implement the interfaces

    def _implements(
        c: sqlite3.Connection,
    ) -> tuple[RespondentsRepo, PostingsRepo, LinksRepo, CandidatesRepo]:
        return SqliteRespondents(c), SqlitePostings(c), SqliteLinks(c), SqliteCandidates(c)
