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

Steps 2 and 3 are a *pass*. Passes run one at a time, each seeing everything the passes
before it filed, on one server or many sharing a database: in a process, the matcher's
lock holds through both steps; across servers, the write begins with
:meth:`~syncserver.store.RespondentsRepo.begin_pass`, which waits for another server's
pass to commit and tells whether one committed after the read of step 2; if one did,
the scores are read again inside the write, under the lock (on SQLite, one process
matches, and this never happens). The write re-reads the clusters it changes, and
decides only for interviews still ``pending`` with the tokens of the answers in hand:
an interview another pass matched meanwhile is matched once, and one registered again
with other answers is left to the pass that has those. Nothing here reads an identity
answer from the store.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from .._time import ms
from ..audit.entries import AuditEntry, append
from ..project import Project
from ..store import CandidateState, LinkHow, Store, Tx
from ._clusters import recluster
from ._compare import STRONG_NAME_LEVELS, TF_NAME_LEVELS, Comparison, compare, match_weight
from ._filing import decode_tokens, encode_tokens
from ._identity import IdentityAnswers
from ._pseudonyms import Probe, PseudonymKey
from ._weights import Weights, default_weights, load_weights

__all__ = ["MatchReport", "Matcher", "Scored"]


@dataclass(frozen=True, slots=True)
class Scored:
    """One candidate of a probe that scored at least the review threshold. ``score`` is
    the posterior log2 odds that the two are one person (§7.4)."""

    record_id: uuid.UUID
    score: float
    comparison: Comparison


@dataclass
class MatchReport:
    interviews: int = 0
    candidates: int = 0  # pairs compared
    linked: int = 0  # automatic links made
    queued: int = 0  # review items opened
    review_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Scores:
    """Step 2's outcome: each probe with its candidates that scored at least the review
    threshold, and how many pairs were compared."""

    kept: list[tuple[Probe, list[Scored]]]
    compared: int


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
        if not items:
            return MatchReport()
        probes = [self.probe(rid, answers) for rid, answers in items]
        now_ms = ms(now)
        with self._lock:
            mark, scores = self.store.read_sync(
                lambda tx: (tx.respondents.passes(), self._score(tx, probes))
            )
            report = self.store.write_sync(lambda tx: self._pass(tx, probes, mark, scores, now_ms))
        report.interviews = len(items)
        return report

    def _pass(
        self, tx: Tx, probes: list[Probe], mark: int, scores: _Scores, now_ms: int
    ) -> MatchReport:
        """Step 3, under the lock of passes. Has no effect outside ``tx``, and builds its
        report afresh: the store may run it again (PostgreSQL retries a transaction
        aborted for a deadlock)."""
        if tx.respondents.begin_pass() != mark:
            # Another server's pass committed after step 2's read: the interviews it
            # filed were no candidates there. Score again, seeing them.
            scores = self._score(tx, probes)
        report = MatchReport(candidates=scores.compared)
        self._decide(tx, scores.kept, now_ms, report)
        return report

    # -- step 2: candidates and scores ----------------------------------------------------

    def _score(self, tx: Tx, probes: list[Probe]) -> _Scores:
        w = self.weights
        compared = 0
        own = tx.respondents.seqs([p.record_id for p in probes])
        postings = tx.postings.lookup(set().union(*(p.lookups for p in probes)))
        # This batch's own interviews are filed only in the write below: they find one
        # another through their postings here, as if already filed.
        unfiled: dict[bytes, int] = {}
        for p in probes:
            seq = own.get(p.record_id)
            if seq is not None:
                for t in p.postings:
                    postings.setdefault(t, []).append(seq)
                    unfiled[t] = unfiled.get(t, 0) + 1
        wanted: list[set[int]] = []
        for p in probes:
            seqs: set[int] = set()
            for t in p.lookups:
                seqs.update(postings.get(t, ()))
            seqs.discard(own.get(p.record_id, -1))
            wanted.append(seqs)
        found = {
            seq: (row.record_id, decode_tokens(row.tokens))
            for seq, row in tx.respondents.interviews(set().union(*wanted)).items()
        }
        n = tx.respondents.registered()
        counts: dict[bytes, int] = {}

        def count(token: bytes) -> int:
            c = counts.get(token)
            if c is None:
                filed = tx.postings.count(token, w.tf.count_cap)
                c = counts[token] = min(filed + unfiled.get(token, 0), w.tf.count_cap)
            return c

        prior = w.prior.log2_odds(n)
        out: list[tuple[Probe, list[Scored]]] = []
        for p, seqs in zip(probes, wanted, strict=True):
            kept: list[Scored] = []
            for seq in seqs:
                hit = found.get(seq)
                if hit is None:
                    continue
                record_id, tokens = hit
                c = compare(p, tokens)
                folded = demo = None
                # How common the values are: interviews other than these two that carry
                # them (for a name, the probe's folded form or the candidate's, which
                # differ across scripts).
                if c.name in TF_NAME_LEVELS:
                    mine, theirs = p.tokens.folded, tokens.folded
                    assert mine is not None and theirs is not None
                    folded = max(max(count(mine), count(theirs)) - 1 - (mine == theirs), 0)
                if c.demo is not None and tokens.demo is not None:
                    same = tokens.demo == p.tokens.demo
                    demo = max(count(tokens.demo) - 1 - same, 0)
                score = prior + match_weight(
                    c,
                    w,
                    n=n,
                    folded_count=folded,
                    demo_count=demo,
                    surname_share=p.surname_share,
                )
                compared += 1
                if score >= w.thresholds.review:
                    kept.append(Scored(record_id, score, c))
            out.append((p, kept))
        return _Scores(out, compared)

    # -- step 3: decisions ----------------------------------------------------------------

    def _decide(
        self,
        tx: Tx,
        scored: list[tuple[Probe, list[Scored]]],
        now_ms: int,
        report: MatchReport,
    ) -> None:
        w = self.weights
        ids = [probe.record_id for probe, _ in scored]
        # The interviews to decide for, their rows held until this pass commits.
        waiting = tx.respondents.waiting(ids, hold=True)
        tx.postings.file(ids)
        for probe, kept in scored:
            me = probe.record_id
            if waiting.get(me) != encode_tokens(probe.tokens):
                # Not registered (the record was never merged), matched already (by a
                # pass of another server), or registered again with other answers (the
                # pass that has them matches it): nothing to do with these answers.
                continue
            by_cluster: dict[uuid.UUID, list[Scored]] = {}
            fresh = tx.respondents.clusters_of([s.record_id for s in kept])
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
                my_cluster = tx.respondents.cluster_of(me)
                assert my_cluster is not None  # registered, checked above
                if cl == my_cluster:
                    continue  # already one respondent
                mine = tx.respondents.members(my_cluster)
                theirs = tx.respondents.members(cl)
                if tx.candidates.any_between(mine, theirs, CandidateState.DISTINCT):
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
                    self._link(tx, me, best, now_ms)
                    report.linked += 1
                    linked = True
                elif not tx.candidates.any_between(mine, theirs, CandidateState.OPEN):
                    cid = self._queue(tx, me, best, now_ms)  # one item per pair
                    if cid is not None:
                        report.queued += 1
                        report.review_ids.append(cid)
            tx.respondents.mark_matched(me)

    def _link(self, tx: Tx, me: uuid.UUID, best: Scored, now_ms: int) -> None:
        tx.links.add(
            me,
            best.record_id,
            how=LinkHow.AUTO,
            score=best.score,
            levels=best.comparison.code,
            at_ms=now_ms,
            actor="system",
        )
        clusters = recluster(tx, [me])
        tx.candidates.settle_within(
            set(clusters), states=(CandidateState.OPEN,), at_ms=now_ms, by="system"
        )
        append(
            tx,
            AuditEntry(
                kind="link",
                at_ms=now_ms,
                actor="system",
                subject=str(me),
                detail={
                    "other": str(best.record_id),
                    "how": LinkHow.AUTO.value,
                    "score": f"{best.score:.1f}",
                    "levels": best.comparison.code,
                    "respondent": str(clusters[me]),
                },
            ),
        )

    def _queue(self, tx: Tx, me: uuid.UUID, best: Scored, now_ms: int) -> int | None:
        cid = tx.candidates.queue(
            me, best.record_id, score=best.score, levels=best.comparison.code, at_ms=now_ms
        )
        if cid is None:
            return None  # this pair was queued or decided before
        append(
            tx,
            AuditEntry(
                kind="candidate",
                at_ms=now_ms,
                actor="system",
                subject=str(me),
                detail={
                    "other": str(best.record_id),
                    "candidate": cid,
                    "score": f"{best.score:.1f}",
                    "levels": best.comparison.code,
                },
            ),
        )
        return cid
