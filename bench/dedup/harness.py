"""Run the real sealsync matcher over a synthetic population (bench/dedup/population.py).

The interviews go through exactly what ingest and the matcher do on a server: each batch
(a "bundle") is registered in one write transaction of a real SQLite store, then matched
with :class:`syncserver.respondents.Matcher`; auto-links and review items are read back
from the store. Only the bundle decryption and form validation are left out.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from population import Interview

from syncserver.respondents import (
    IdentityAnswers,
    Matcher,
    PseudonymKey,
    Weights,
    register,
    stored_tokens,
)
from syncserver.store import SqliteStore

Pair = frozenset[str]
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


@dataclass
class Outcome:
    auto: set[Pair] = field(default_factory=set)  # every pair within an auto-linked cluster
    #: Every pair a decision on an open review item would link (the two clusters' members),
    #: with the item's score.
    review: dict[Pair, float] = field(default_factory=dict)
    #: The open review items themselves: (pair, score, comparison code).
    items: list[tuple[Pair, float, str]] = field(default_factory=list)
    links: dict[Pair, tuple[float, str]] = field(default_factory=dict)  # the link edges
    seconds: float = 0.0
    compared: int = 0


def answers_of(iv: Interview) -> IdentityAnswers:
    return IdentityAnswers(
        name=iv.respondent_name,
        sex=iv.sex,
        birth_year=iv.birth_year,
        province_of_origin=iv.province_of_origin,
        departure_year=iv.departure_year,
    )


def record_id(interview_id: str) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.sha256(interview_id.encode()).digest()[:16])


def run(
    interviews: Sequence[Interview],
    weights: Weights,
    *,
    batch: int = 50,
    key_seed: bytes = b"synthetic",
    directory: Path | None = None,
) -> Outcome:
    """Register and match ``interviews`` in order, ``batch`` at a time."""
    key = PseudonymKey(hashlib.sha256(key_seed).digest())
    ids = {record_id(iv.interview_id).bytes: iv.interview_id for iv in interviews}
    out = Outcome()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(directory or tmp) / "store.db", audit_key=bytes(32)).open()
        try:
            matcher = Matcher(store, key, weights)
            t0 = time.perf_counter()
            for i in range(0, len(interviews), batch):
                chunk = interviews[i : i + batch]
                items = [(record_id(iv.interview_id), answers_of(iv)) for iv in chunk]
                tokens = [stored_tokens(key, a) for _, a in items]

                def tx(conn, items=items, tokens=tokens):  # type: ignore[no-untyped-def]
                    for (rid, _), (tok, posts) in zip(items, tokens, strict=True):
                        register(conn, rid, tok, posts, now_ms=0)

                store.write_sync(tx)
                out.compared += matcher.match(items, now=NOW).candidates
            out.seconds = time.perf_counter() - t0
            clusters, links, review = store.read_sync(
                lambda c: (
                    c.execute("SELECT record_id, cluster_id FROM respondents").fetchall(),
                    c.execute(
                        "SELECT a, b, score, levels FROM respondent_links WHERE removed_ms IS NULL"
                    ).fetchall(),
                    c.execute(
                        "SELECT a, b, score, levels FROM respondent_candidates WHERE state = 'open'"
                    ).fetchall(),
                )
            )
        finally:
            store.close()
    groups: dict[bytes, list[str]] = defaultdict(list)
    for rid, cl in clusters:
        groups[cl].append(ids[rid])
    for members in groups.values():
        out.auto.update(frozenset(p) for p in itertools.combinations(sorted(members), 2))
    out.links = {frozenset((ids[a], ids[b])): (s, lv) for a, b, s, lv in links}
    cluster_of = {ids[rid]: cl for rid, cl in clusters}
    for a, b, score, levels in review:
        out.items.append((frozenset((ids[a], ids[b])), score, levels))
        for x in groups[cluster_of[ids[a]]]:
            for y in groups[cluster_of[ids[b]]]:
                if x != y:
                    pair = frozenset((x, y))
                    out.review[pair] = max(score, out.review.get(pair, score))
    return out
