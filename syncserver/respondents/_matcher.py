"""Matching new interviews against the store (docs/spec/respondent-matching.md §6-§8).

:meth:`Matcher.match` takes interviews that ingest has registered (their tokens stored,
state ``pending``) together with their identity answers, still in memory, and:

1. builds each one's :class:`~._tokens.Probe` (the tokens of every nearby value);
2. in one read: finds candidates through the postings, reads their tokens and the
   counts that say how common a value is, and scores every pair (§7);
3. in one write: files their postings (so that later interviews find them), links
   automatically what clears the high threshold and every safety rule (§8), queues
   the middle band for review, marks the interviews matched, and appends an audit
   entry for every link and review item.

Matching is serialized per process by a lock, and the write re-reads the clusters it
changes, so concurrent ingests never link on a stale view. Nothing here reads an
identity answer from the store.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from ..audit.entries import AuditEntry, append
from ..project import Project
from ..store import Store
from . import _store as st
from ._compare import STRONG_NAME_LEVELS, TF_NAME_LEVELS, Comparison, compare, match_weight
from ._identity import IdentityAnswers
from ._pseudonyms import Probe, PseudonymKey
from ._weights import Weights, default_weights, load_weights

__all__ = ["MatchReport", "Matcher", "Scored"]


@dataclass(frozen=True, slots=True)
class Scored:
    """One candidate of a probe that scored at least the review threshold. ``score`` is
    the posterior log2 odds that the two are one person (§7.4)."""

    record_id: bytes
    cluster_id: bytes
    score: float
    comparison: Comparison


@dataclass
class MatchReport:
    interviews: int = 0
    candidates: int = 0  # pairs compared
    linked: int = 0  # automatic links made
    queued: int = 0  # review items opened
    review_ids: list[int] = field(default_factory=list)


@cache
def _default_weights() -> Weights:
    return default_weights()


class Matcher:
    """The matcher of one project: its pseudonym key, its weights, its store."""

    def __init__(self, store: Store, key: PseudonymKey, weights: Weights | None = None):
        self.store = store
        self.key = key
        self.weights = weights or _default_weights()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Matcher(weights v{self.weights.version})"

    @classmethod
    def for_project(cls, project: Project) -> Matcher:
        """The matcher of ``project``: its store, its pseudonym key (derived from the
        store key), and its weights (``[respondents] weights``, or the shipped ones)."""
        name = project.config.respondents.weights
        weights = load_weights(project.config.root / name) if name else _default_weights()
        return cls(project.store, PseudonymKey(project.identity.store_key), weights)

    def probe(self, record_id: uuid.UUID, answers: IdentityAnswers) -> Probe:
        return Probe.build(self.key, record_id, answers, surname_share=self.weights.share_of)

    def match(
        self, items: Sequence[tuple[uuid.UUID, IdentityAnswers]], *, now: datetime.datetime
    ) -> MatchReport:
        """Match registered interviews (record id, identity answers); see the module."""
        report = MatchReport(interviews=len(items))
        if not items:
            return report
        probes = [self.probe(rid, answers) for rid, answers in items]
        now_ms = int(now.timestamp() * 1000)
        with self._lock:
            scored = self.store.read_sync(lambda c: self._score(c, probes, report))
            self.store.write_sync(lambda c: self._decide(c, scored, now_ms, report))
        return report

    # -- step 2: candidates and scores ----------------------------------------------------

    def _score(
        self, conn: sqlite3.Connection, probes: list[Probe], report: MatchReport
    ) -> list[tuple[Probe, list[Scored]]]:
        w = self.weights
        own = {
            rid: seq
            for seq, rid in conn.execute(
                "SELECT seq, record_id FROM respondents WHERE record_id IN"
                f" ({','.join('?' * len(probes))})",
                [p.record_id.bytes for p in probes],
            )
        }
        postings = st.postings_of(conn, set().union(*(p.lookups for p in probes)))
        # This batch's own interviews are filed only in the write below: they find one
        # another through their postings here, as if already filed.
        unfiled: dict[bytes, int] = {}
        for p in probes:
            seq = own.get(p.record_id.bytes)
            if seq is not None:
                for t in p.postings:
                    postings.setdefault(t, []).append(seq)
                    unfiled[t] = unfiled.get(t, 0) + 1
        wanted: list[set[int]] = []
        for p in probes:
            seqs: set[int] = set()
            for t in p.lookups:
                seqs.update(postings.get(t, ()))
            seqs.discard(own.get(p.record_id.bytes, -1))
            wanted.append(seqs)
        rows = st.fetch_rows(conn, set().union(*wanted))
        n = st.max_seq(conn)
        counts: dict[bytes, int] = {}

        def count(token: bytes) -> int:
            c = counts.get(token)
            if c is None:
                filed = st.count_postings(conn, token, w.tf.count_cap)
                c = counts[token] = min(filed + unfiled.get(token, 0), w.tf.count_cap)
            return c

        prior = w.prior.log2_odds(n)
        out: list[tuple[Probe, list[Scored]]] = []
        for p, seqs in zip(probes, wanted, strict=True):
            kept: list[Scored] = []
            for seq in seqs:
                row = rows.get(seq)
                if row is None:
                    continue
                c = compare(p, row.tokens)
                folded = demo = None
                # How common the values are: interviews other than these two that carry
                # them (for a name, the probe's folded form or the candidate's, which
                # differ across scripts).
                if c.name in TF_NAME_LEVELS:
                    mine, theirs = p.tokens.folded, row.tokens.folded
                    assert mine is not None and theirs is not None
                    folded = max(max(count(mine), count(theirs)) - 1 - (mine == theirs), 0)
                if c.demo is not None and row.tokens.demo is not None:
                    same = row.tokens.demo == p.tokens.demo
                    demo = max(count(row.tokens.demo) - 1 - same, 0)
                score = prior + match_weight(
                    c,
                    w,
                    n=n,
                    folded_count=folded,
                    demo_count=demo,
                    surname_share=p.surname_share,
                )
                report.candidates += 1
                if score >= w.thresholds.review:
                    kept.append(Scored(row.record_id, row.cluster_id, score, c))
            out.append((p, kept))
        return out

    # -- step 3: decisions ----------------------------------------------------------------

    def _decide(
        self,
        conn: sqlite3.Connection,
        scored: list[tuple[Probe, list[Scored]]],
        now_ms: int,
        report: MatchReport,
    ) -> None:
        w = self.weights
        st.file_postings(conn, [probe.record_id.bytes for probe, _ in scored])
        for probe, kept in scored:
            me = probe.record_id.bytes
            if not conn.execute("SELECT 1 FROM respondents WHERE record_id = ?", (me,)).fetchone():
                continue  # not registered (the record was never merged): nothing to do
            by_cluster: dict[bytes, list[Scored]] = {}
            fresh = dict(
                conn.execute(
                    "SELECT record_id, cluster_id FROM respondents WHERE record_id IN"
                    f" ({','.join('?' * len(kept))})",
                    [s.record_id for s in kept],
                ).fetchall()
            )
            for s in kept:
                cl = fresh.get(s.record_id)
                if cl is not None:
                    by_cluster.setdefault(cl, []).append(s)
            options = sorted(
                ((max(ss, key=lambda s: s.score), cl, ss) for cl, ss in by_cluster.items()),
                key=lambda o: -o[0].score,
            )
            linked = False
            for best, cl, ss in options:
                my_cluster = self._cluster_of(conn, me)
                if cl == my_cluster:
                    continue  # already one respondent
                mine = st.cluster_members(conn, my_cluster)
                theirs = st.cluster_members(conn, cl)
                if st.pair_between(conn, mine, theirs, "distinct"):
                    continue  # a person decided: never again, neither linked nor queued
                reached = {s.record_id for s in ss}
                auto = (
                    not linked
                    and best.score >= w.thresholds.auto_link
                    and best.comparison.name in STRONG_NAME_LEVELS
                    and best.comparison.demo_state == "near"
                    and theirs <= reached  # every member of that cluster looks like this one
                )
                if auto:
                    self._link(conn, me, best, now_ms)
                    report.linked += 1
                    linked = True
                elif not st.pair_between(conn, mine, theirs, "open"):  # one item per pair
                    cid = self._queue(conn, me, best, now_ms)
                    if cid is not None:
                        report.queued += 1
                        report.review_ids.append(cid)
            conn.execute("UPDATE respondents SET state = 'matched' WHERE record_id = ?", (me,))

    @staticmethod
    def _cluster_of(conn: sqlite3.Connection, record: bytes) -> bytes:
        (cl,) = conn.execute(
            "SELECT cluster_id FROM respondents WHERE record_id = ?", (record,)
        ).fetchone()
        return bytes(cl)

    def _link(self, conn: sqlite3.Connection, me: bytes, best: Scored, now_ms: int) -> None:
        a, b = st.ordered(me, best.record_id)
        conn.execute(
            "INSERT INTO respondent_links (a, b, how, score, levels, created_ms, actor)"
            " VALUES (?, ?, 'auto', ?, ?, ?, 'system')",
            (a, b, best.score, best.comparison.code, now_ms),
        )
        clusters = st.recluster(conn, [me])
        st.settle_within(conn, set(clusters), now_ms=now_ms, by="system")
        append(
            conn,
            AuditEntry(
                kind="link",
                at_ms=now_ms,
                actor="system",
                subject=str(uuid.UUID(bytes=me)),
                detail={
                    "other": str(uuid.UUID(bytes=best.record_id)),
                    "how": "auto",
                    "score": f"{best.score:.1f}",
                    "levels": best.comparison.code,
                    "respondent": str(uuid.UUID(bytes=clusters[me])),
                },
            ),
        )

    def _queue(self, conn: sqlite3.Connection, me: bytes, best: Scored, now_ms: int) -> int | None:
        a, b = st.ordered(me, best.record_id)
        cur = conn.execute(
            "INSERT OR IGNORE INTO respondent_candidates (a, b, score, levels, state, created_ms)"
            " VALUES (?, ?, ?, ?, 'open', ?)",
            (a, b, best.score, best.comparison.code, now_ms),
        )
        if cur.rowcount == 0:
            return None  # this pair was queued or decided before
        cid = int(cur.lastrowid or 0)
        append(
            conn,
            AuditEntry(
                kind="candidate",
                at_ms=now_ms,
                actor="system",
                subject=str(uuid.UUID(bytes=me)),
                detail={
                    "other": str(uuid.UUID(bytes=best.record_id)),
                    "candidate": cid,
                    "score": f"{best.score:.1f}",
                    "levels": best.comparison.code,
                },
            ),
        )
        return cid
