"""Respondents' keyed pseudonyms, their postings, links and the review queue
(docs/spec/respondent-matching.md §10).

Row types and the repository interfaces every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`):

- :class:`RespondentsRepo` (``tx.respondents``): one row per interview (record) that
  has been registered, in registration order (``seq``, increasing from 1), with its
  keyed tokens, its state and the respondent (cluster) it belongs to;
- :class:`PostingsRepo` (``tx.postings``): which interviews are filed under a token;
- :class:`LinksRepo` (``tx.links``): links between two interviews, automatic or made by
  a person; never deleted, a removed link keeps who removed it and when;
- :class:`CandidatesRepo` (``tx.candidates``): pairs of interviews in the review queue,
  and the decisions taken on them.

Ids are :class:`uuid.UUID`, times Unix milliseconds (:mod:`syncserver._time`). A pair of
interviews is kept once, in the order of the ids' bytes (``a < b``, which is also the
order of :class:`uuid.UUID`): methods that take a pair accept it in either order. The
store keeps tokens as opaque bytes: what they mean (and how :class:`Interview.tokens` is
encoded) is :mod:`syncserver.respondents`' business. Nothing here holds an identity
answer in clear.

Several servers may share one store. Whatever changes clusters, links or review
decisions first takes :meth:`RespondentsRepo.lock_clusters` (a matching pass takes it
with :meth:`RespondentsRepo.begin_pass`), so that such transactions run one after
another whichever server runs them, each seeing what the one before it committed.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Sequence
from typing import Final, Protocol

import msgspec

__all__ = [
    "TOKEN_BYTES",
    "CandidateState",
    "CandidatesRepo",
    "ClusterMember",
    "Interview",
    "LinkHow",
    "LinksRepo",
    "PostingsRepo",
    "RespondentCounts",
    "RespondentState",
    "RespondentsRepo",
    "StoredCandidate",
    "StoredLink",
]

#: The width of every token the store is given to file (§4: keyed pseudonyms are
#: 16 bytes).
TOKEN_BYTES: Final = 16


class RespondentState(enum.StrEnum):
    """An interview waiting to be matched, or matched."""

    PENDING = "pending"
    MATCHED = "matched"


class CandidateState(enum.StrEnum):
    """A review item: open, or decided (same person, different people), or settled
    (moot: its two interviews became one respondent otherwise)."""

    OPEN = "open"
    LINKED = "linked"
    DISTINCT = "distinct"
    SETTLED = "settled"


class LinkHow(enum.StrEnum):
    """Who made a link: the matcher, or a person."""

    AUTO = "auto"
    MANUAL = "manual"


class Interview(msgspec.Struct, frozen=True, kw_only=True):
    """An interview as matching compares it: its registration number, its record and
    its keyed tokens (encoded by :mod:`syncserver.respondents`)."""

    seq: int
    record_id: uuid.UUID
    tokens: bytes


class ClusterMember(msgspec.Struct, frozen=True, kw_only=True):
    """An interview of a respondent, as shown to a person: its record's form
    (``"form_id vN"``, the greatest as text over the record's versions; None if the
    record has none) and when its first version was received."""

    record_id: uuid.UUID
    state: RespondentState
    form: str | None
    received_ms: int | None


class StoredLink(msgspec.Struct, frozen=True, kw_only=True):
    """A link between interviews ``a < b``; in force while ``removed_ms`` is None."""

    id: int
    a: uuid.UUID
    b: uuid.UUID
    how: LinkHow
    score: float | None
    levels: str | None
    created_ms: int
    actor: str
    removed_ms: int | None
    removed_by: str | None


class StoredCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """A review item on interviews ``a < b``, with the respondent (cluster) each side
    belongs to now (None for an interview that has no respondent row)."""

    id: int
    a: uuid.UUID
    b: uuid.UUID
    score: float | None
    levels: str | None
    state: CandidateState
    created_ms: int
    decided_ms: int | None
    decided_by: str | None
    cluster_a: uuid.UUID | None
    cluster_b: uuid.UUID | None


class RespondentCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Interviews registered, respondents (clusters) they make, interviews pending."""

    interviews: int
    respondents: int
    pending: int


class RespondentsRepo(Protocol):
    """One row per registered interview (record): its tokens, state and cluster."""

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
        """File the tokens of ``record_id`` (and the tokens it will be filed under,
        ``postings``, each :data:`TOKEN_BYTES` wide) in ``state``. A new record gets the
        next ``seq`` and a new respondent id, alone in its cluster; the store allocates
        both. A record already registered keeps its seq, respondent and cluster: if
        it already holds these tokens of this version nothing changes and the answer is
        False; otherwise it is taken out of the postings it was filed under (its new
        ones are filed by :meth:`PostingsRepo.file`) and its tokens, postings and state
        replaced. True when a row was added or replaced.

        Atomic: of two transactions registering one record at once (two servers), the
        second waits for the first to end and then finds its row, as if it had run
        after it."""
        ...

    def registered(self) -> int:
        """How many interviews were ever registered (rows are never deleted; seqs may
        have gaps, where a transaction that allocated one rolled back)."""
        ...

    def lock_clusters(self) -> None:
        """Serialise the transactions that change clusters, links or review decisions,
        until this one ends: another transaction that takes this lock waits, and then
        reads what this one wrote. Take it before the transaction's first read, and
        before its first audit entry (which serialises appenders until they commit).
        (PostgreSQL: the row of ``respondent_matching``, locked ``FOR UPDATE``; SQLite,
        with one writer, needs none.)"""
        ...

    def passes(self) -> int:
        """How many matching passes have been committed (:meth:`begin_pass`). A matcher
        reads it in the snapshot it scores in, and hands it to the pass's write."""
        ...

    def begin_pass(self) -> int:
        """Begin a matching pass in this write transaction: take :meth:`lock_clusters`,
        count the pass, and return how many passes were committed before it. When that
        differs from :meth:`passes` read with the pass's scores, another pass committed
        in between (on another server): what it filed was not seen, and the scores must
        be read again, now, under the lock. (SQLite: its one process matches under the
        matcher's own lock, so nothing is counted and both answer 0.)"""
        ...

    def waiting(
        self, record_ids: Collection[uuid.UUID], *, hold: bool = False
    ) -> dict[uuid.UUID, bytes]:
        """The tokens of those of ``record_ids`` that are registered and ``pending``.
        ``hold`` (in a write transaction): their rows stay as read until this
        transaction ends (a registration of a new version waits for it)."""
        ...

    def seqs(self, record_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The seq of each of ``record_ids`` that is registered."""
        ...

    def interviews(self, seqs: Collection[int]) -> dict[int, Interview]:
        """The interviews with these seqs, by seq (one batch, however many)."""
        ...

    def cluster_of(self, record_id: uuid.UUID) -> uuid.UUID | None:
        """The respondent (cluster id) of ``record_id``; None if it is not registered."""
        ...

    def clusters_of(self, record_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Record id → cluster id, for those of ``record_ids`` that are registered."""
        ...

    def members(self, cluster_id: uuid.UUID) -> set[uuid.UUID]:
        """The record ids of the interviews in cluster ``cluster_id``."""
        ...

    def recluster(self, component: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Make the interviews of ``component`` one cluster, whose id is the respondent
        id of the earliest registered of them (lowest seq, §10.2). Returns record id →
        that cluster id for every registered interview of ``component`` (none of them
        registered: nothing changes, and the answer is empty)."""
        ...

    def mark_matched(self, record_id: uuid.UUID) -> None:
        """``record_id`` has been matched (state ``matched``)."""
        ...

    def pending(self) -> list[uuid.UUID]:
        """The interviews still waiting to be matched, in registration order."""
        ...

    def find_cluster(self, record_or_respondent: uuid.UUID) -> uuid.UUID | None:
        """The cluster holding the interview with that record id, or the cluster with
        that id; None if neither exists."""
        ...

    def member_details(self, cluster_id: uuid.UUID) -> list[ClusterMember]:
        """The interviews of cluster ``cluster_id`` in registration order, with their
        records' form and first reception."""
        ...

    def needing_tokens(self, token_version: int, *, everything: bool = False) -> list[uuid.UUID]:
        """Records with a version not superseded that have no respondent row or tokens
        of another version than ``token_version`` (every such record with
        ``everything``), in the order of their first reception of such a version (then
        by id)."""
        ...

    def counts(self) -> RespondentCounts:
        """Interviews, respondents and pending interviews."""
        ...


class PostingsRepo(Protocol):
    """Which interviews are filed under which token (§6)."""

    def file(self, record_ids: Collection[uuid.UUID]) -> None:
        """File each of ``record_ids`` under the postings it was registered with
        (:meth:`RespondentsRepo.register`): from now on lookups find it. Filing twice
        is harmless."""
        ...

    def lookup(self, tokens: Collection[bytes]) -> dict[bytes, list[int]]:
        """Token → the seqs filed under it, for each of ``tokens`` that has any (one
        batch, however many)."""
        ...

    def count(self, token: bytes, cap: int) -> int:
        """How many interviews are filed under ``token``, counted up to ``cap``."""
        ...


class LinksRepo(Protocol):
    """Links between two interviews: the same person."""

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
        """Link ``x`` and ``y`` (in either order)."""
        ...

    def in_force(self, record_id: uuid.UUID) -> list[StoredLink]:
        """The links of ``record_id`` that are in force."""
        ...

    def remove(self, link_ids: Collection[int], *, at_ms: int, by: str) -> None:
        """Take these links out of force; their rows stay, with who and when."""
        ...

    def touching(self, record_ids: Collection[uuid.UUID]) -> list[StoredLink]:
        """Every link (removed ones too) with an end in ``record_ids``, oldest first."""
        ...

    def levels_in_force(self) -> list[str]:
        """The comparison levels (§5.3) of every link in force that has them."""
        ...

    def count_in_force(self) -> dict[LinkHow, int]:
        """Links in force, by how they were made (a kind with none is absent)."""
        ...


class CandidatesRepo(Protocol):
    """The review queue: pairs of interviews that may be the same person, and the
    decisions on them. One row per pair."""

    def queue(
        self, x: uuid.UUID, y: uuid.UUID, *, score: float, levels: str, at_ms: int
    ) -> int | None:
        """Open a review item on the pair (in either order) and return its id (the
        store allocates it: increasing, not always by one); None, and nothing changed,
        if the pair has a row already (queued or decided before, or by a transaction
        committing meanwhile, which this one waits for)."""
        ...

    def decide(
        self, x: uuid.UUID, y: uuid.UUID, state: CandidateState, *, at_ms: int, by: str
    ) -> None:
        """Record a person's decision on the pair (in either order): a new row, or the
        pair's row (a review item, or an earlier decision) updated (in one statement:
        of two decisions at once, the later committed stands)."""
        ...

    def settle_within(
        self,
        members: Collection[uuid.UUID],
        *,
        states: Collection[CandidateState],
        at_ms: int,
        by: str,
    ) -> None:
        """Pairs in one of ``states`` whose two interviews are both among ``members``
        become settled."""
        ...

    def any_between(
        self, xs: Collection[uuid.UUID], ys: Collection[uuid.UUID], state: CandidateState
    ) -> bool:
        """True if some x and some y form a pair in ``state``."""
        ...

    def pair(self, x: uuid.UUID, y: uuid.UUID) -> StoredCandidate | None:
        """The row of the pair (in either order), if any."""
        ...

    def get(self, candidate_id: int) -> StoredCandidate | None:
        """Review item ``candidate_id``."""
        ...

    def ranked(self, *, state: CandidateState | None, limit: int) -> list[StoredCandidate]:
        """Up to ``limit`` items in ``state`` (None: every state), highest score first,
        then by id."""
        ...

    def touching(self, record_ids: Collection[uuid.UUID]) -> list[StoredCandidate]:
        """Every item with an interview in ``record_ids``, by id."""
        ...

    def count_by_state(self) -> dict[CandidateState, int]:
        """Items by state (a state with none is absent)."""
        ...
