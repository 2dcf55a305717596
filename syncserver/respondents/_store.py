"""Respondent tables (docs/spec/respondent-matching.md §10): SQL on a connection.

Every function takes the caller's connection and runs inside the caller's transaction;
nothing here commits. Record ids are 16-byte blobs; a pair is always stored with
``a < b`` (bytewise), so each pair has one row.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

import msgspec

from schemas.ids import new_id

from ._pseudonyms import TOKEN_BYTES, TOKEN_VERSION, StoredTokens

__all__ = [
    "Row",
    "active_links",
    "cluster_members",
    "count_postings",
    "file_postings",
    "decide",
    "pair_between",
    "fetch_rows",
    "max_seq",
    "ordered",
    "postings_of",
    "recluster",
    "register",
    "settle_within",
]

_CHUNK = 500
_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(StoredTokens)


def ordered(x: bytes, y: bytes) -> tuple[bytes, bytes]:
    return (x, y) if x < y else (y, x)


def _chunks(items: list[bytes] | list[int]) -> Iterator[list[bytes] | list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def register(
    conn: sqlite3.Connection,
    record_id: uuid.UUID,
    tokens: StoredTokens,
    postings: tuple[bytes, ...],
    *,
    now_ms: int,
) -> bool:
    """File the current identity tokens of ``record_id``: a new row for a new record;
    for a new version, the tokens replaced if they changed. True when the row needs
    matching (state ``pending``); an interview with nothing to match on is ``matched``
    at once, alone in its cluster. A pending interview's postings are filed when it is
    matched (:func:`file_postings`); those of a replaced version go at once."""
    rid = record_id.bytes
    blob = _enc.encode(tokens)
    pending = tokens != StoredTokens()
    state = "pending" if pending else "matched"
    row = conn.execute(
        "SELECT seq, tokens, postings, token_version FROM respondents WHERE record_id = ?", (rid,)
    ).fetchone()
    if row is None:
        respondent = new_id().bytes
        cur = conn.execute(
            "INSERT INTO respondents (record_id, respondent_id, cluster_id, token_version,"
            " tokens, postings, state, registered_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, respondent, respondent, TOKEN_VERSION, blob, b"".join(postings), state, now_ms),
        )
        seq = cur.lastrowid
    else:
        seq, old_blob, old_postings, version = row
        if old_blob == blob and version == TOKEN_VERSION:
            return False
        conn.executemany(
            "DELETE FROM respondent_postings WHERE token = ? AND seq = ?",
            [
                (old_postings[i : i + TOKEN_BYTES], seq)
                for i in range(0, len(old_postings), TOKEN_BYTES)
            ],
        )
        conn.execute(
            "UPDATE respondents SET tokens = ?, postings = ?, token_version = ?, state = ?"
            " WHERE seq = ?",
            (blob, b"".join(postings), TOKEN_VERSION, state, seq),
        )
    return pending


def file_postings(conn: sqlite3.Connection, record_ids: Collection[bytes]) -> None:
    """File the postings of ``record_ids`` (their current tokens, as registered): from
    now on other interviews find them. The matcher does this in its write, for a whole
    batch sorted by token, rather than ingest for each record: postings are keyed by
    pseudonyms, which are random, so every one lands on its own page of the index, and
    filing them in the upload's transaction cost more than the rest of ingest (§6)."""
    rows: list[tuple[bytes, int]] = []
    for chunk in _chunks(list(record_ids)):
        for seq, blob in conn.execute(
            f"SELECT seq, postings FROM respondents WHERE record_id IN ({_marks(len(chunk))})",
            chunk,
        ):
            rows += [(blob[i : i + TOKEN_BYTES], seq) for i in range(0, len(blob), TOKEN_BYTES)]
    rows.sort()
    conn.executemany("INSERT OR IGNORE INTO respondent_postings (token, seq) VALUES (?, ?)", rows)


def postings_of(conn: sqlite3.Connection, tokens: Collection[bytes]) -> dict[bytes, list[int]]:
    """Token → the seqs filed under it, for every token that has any."""
    out: dict[bytes, list[int]] = {}
    for chunk in _chunks(list(tokens)):
        for token, seq in conn.execute(
            f"SELECT token, seq FROM respondent_postings WHERE token IN ({_marks(len(chunk))})",
            chunk,
        ):
            out.setdefault(token, []).append(seq)
    return out


def count_postings(conn: sqlite3.Connection, token: bytes, cap: int) -> int:
    """How many interviews are filed under ``token``, counted up to ``cap``."""
    (n,) = conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM respondent_postings WHERE token = ? LIMIT ?)",
        (token, cap),
    ).fetchone()
    return int(n)


def max_seq(conn: sqlite3.Connection) -> int:
    """The number of interviews ever registered (seqs are dense from 1)."""
    (n,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM respondents").fetchone()
    return int(n)


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    record_id: bytes
    cluster_id: bytes
    tokens: StoredTokens


def fetch_rows(conn: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, Row]:
    out: dict[int, Row] = {}
    for chunk in _chunks(sorted(set(seqs))):
        for seq, rid, cluster, blob in conn.execute(
            "SELECT seq, record_id, cluster_id, tokens FROM respondents"
            f" WHERE seq IN ({_marks(len(chunk))})",
            chunk,
        ):
            out[seq] = Row(seq, rid, cluster, _dec.decode(blob))
    return out


def cluster_members(conn: sqlite3.Connection, cluster_id: bytes) -> set[bytes]:
    return {
        r[0]
        for r in conn.execute(
            "SELECT record_id FROM respondents WHERE cluster_id = ?", (cluster_id,)
        )
    }


def pair_between(
    conn: sqlite3.Connection, xs: Collection[bytes], ys: Collection[bytes], state: str
) -> bool:
    """True if some x and some y form a pair in ``state``: ``distinct`` (a person decided
    they are different people) or ``open`` (a review item already asks)."""
    if not xs or not ys:
        return False
    for chunk in _chunks(sorted(xs)):
        marks = _marks(len(chunk))
        for a, b in conn.execute(
            "SELECT a, b FROM respondent_candidates WHERE state = ?"
            f" AND (a IN ({marks}) OR b IN ({marks}))",
            [state, *chunk, *chunk],
        ):
            if (a in xs and b in ys) or (b in xs and a in ys):
                return True
    return False


def active_links(conn: sqlite3.Connection, record: bytes) -> list[tuple[int, bytes, bytes]]:
    """(link id, a, b) of the links of ``record`` that are in force."""
    return [
        (i, a, b)
        for i, a, b in conn.execute(
            "SELECT id, a, b FROM respondent_links WHERE removed_ms IS NULL AND a = ?"
            " UNION ALL SELECT id, a, b FROM respondent_links"
            " WHERE removed_ms IS NULL AND b = ?",
            (record, record),
        )
    ]


def _component(conn: sqlite3.Connection, seed: bytes) -> set[bytes]:
    seen = {seed}
    todo = [seed]
    while todo:
        r = todo.pop()
        for _, a, b in active_links(conn, r):
            other = b if a == r else a
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def recluster(conn: sqlite3.Connection, seeds: Iterable[bytes]) -> dict[bytes, bytes]:
    """Give every interview connected (by links in force) to a seed the cluster id of
    its component: the respondent id of the component's earliest-registered interview
    (§10.2). Returns record id → cluster id for the seeds' components."""
    out: dict[bytes, bytes] = {}
    for seed in seeds:
        if seed in out:
            continue
        component = sorted(_component(conn, seed))
        rows = conn.execute(
            "SELECT record_id, seq, respondent_id, cluster_id FROM respondents"
            f" WHERE record_id IN ({_marks(len(component))})",
            component,
        ).fetchall()
        founder = min(rows, key=lambda r: r[1])[2]
        changed = [(founder, r[0]) for r in rows if r[3] != founder]
        conn.executemany("UPDATE respondents SET cluster_id = ? WHERE record_id = ?", changed)
        out.update((r[0], founder) for r in rows)
    return out


def decide(
    conn: sqlite3.Connection, x: bytes, y: bytes, state: str, *, now_ms: int, by: str
) -> None:
    """Record a person's decision on the pair ``x < y``: a new row, or the pair's row
    (a review item, or an earlier decision) updated."""
    conn.execute(
        "INSERT INTO respondent_candidates (a, b, state, created_ms, decided_ms, decided_by)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET state = excluded.state,"
        " decided_ms = excluded.decided_ms, decided_by = excluded.decided_by",
        (x, y, state, now_ms, now_ms, by),
    )


def settle_within(
    conn: sqlite3.Connection,
    members: Collection[bytes],
    *,
    now_ms: int,
    by: str,
    states: tuple[str, ...] = ("open",),
) -> None:
    """Pairs in ``states`` whose two interviews are now one respondent become settled:
    open review items, and with ``distinct`` too, decisions a later link overrode."""
    ms = sorted(members)
    if len(ms) < 2:
        return
    marks = _marks(len(ms))
    conn.execute(
        "UPDATE respondent_candidates SET state = 'settled', decided_ms = ?, decided_by = ?"
        f" WHERE state IN ({_marks(len(states))}) AND a IN ({marks}) AND b IN ({marks})",
        [now_ms, by, *states, *ms, *ms],
    )
