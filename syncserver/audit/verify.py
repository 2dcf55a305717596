"""The auditor's view of a project's log, read from its store alone: :func:`verify_log`
and :func:`show_entries`, behind `syncserver audit verify` and `syncserver audit show`
(:mod:`syncserver.cli`; docs/spec/audit-log-v1.md §13).

The verifier shares no code path with the writer, as DESIGN.md asks: hashing, checkpoint
and proof checks come from :mod:`schemas.tlog` only, never from :mod:`syncserver.audit.tlog`,
:mod:`syncserver.audit.log` or the hashing in :mod:`syncserver.audit`, and entries are read
with a struct of its own. It reads the store through the store's read-only
:class:`~syncserver.store.logsource.LogSource` (the values as stored, which it checks)
and needs no passphrase: the log's key is public. An auditor SHOULD pin that key
(``--key``): a key read from the store only shows that the store agrees with itself.
Checkpoints an auditor saved earlier (``--checkpoint FILE``) are what catch a server
that rewrote its history together with its own checkpoints table.

One streaming pass in index order, in memory that does not grow with the log:

- indexes are dense from 0 (a deleted or moved row is named by the first index missing);
- each entry hashes to its stored leaf hash and reads as an audit entry (an edited entry
  is named exactly);
- at every size that a signed checkpoint names (the ``checkpoints`` table, the receipts
  kept in ``bundles``, the auditor's files, merged in size order), the checkpoint verifies
  with the key and its root equals the root recomputed from the entries. Consistency
  between any two checkpoints follows: both roots come from the same recomputed tree.

When the log verifies, the tables that decide who may act (``devices``, ``enroll_tokens``,
``admin_tokens``) are recomputed from its entries (:mod:`syncserver.audit.access_check`, the
same pass) and every row that differs is named (audit-log-v1.md §14.2).

When an entry and its leaf hash were rewritten together, or rows were swapped, no single
row shows it: the first checkpoint whose root disagrees bounds the first such entry to
the entries since the last checkpoint that agreed. The inclusion proofs of signed
receipts then narrow that range, often to one entry; :class:`VerifyReport` says which.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import msgspec

from schemas.errors import TlogError
from schemas.tlog import (
    Checkpoint,
    NoteVerifier,
    TreeHasher,
    leaf_hash,
    parse_verifier_key,
    verify_checkpoint,
    verify_inclusion,
)
from schemas.wire import Receipt, ReceiptBody

from ..errors import ProjectMissing, StoreError, SyncServerError
from ..store.logsource import Kept, LogSource, open_log_source
from .access_check import ACCESS_KINDS, AccessLog

__all__ = ["ShownEntry", "VerifyReport", "show_entries", "verify_log"]

#: Rows read from the store at a time.
BATCH = 1024
#: Trusted subtree hashes (from receipts) kept when narrowing a mismatch: bounds memory.
MAX_EVIDENCE = 65536

_HINT_ENTRIES = (
    "the audit table was changed after it was written: keep this store file as evidence and "
    "compare it with a backup or with checkpoints saved earlier (`--checkpoint FILE`)"
)
_HINT_CHECKPOINTS = (
    "the checkpoint was not signed by this log's key: if --key was given, check that it is "
    "this project's key (`GET /v1/log/key`); otherwise keep this store file as evidence"
)
_HINT_FILE = (
    "check that the file holds a checkpoint of this project's log; without --key the key "
    "comes from the store itself and may have been replaced: pin the key with --key"
)
_HINT_KEY = "pin this project's verifier key: `GET /v1/log/key` on its server, or ask its admin"
_HINT_TABLES = (
    "these rows were changed in store.db outside sealsync: keep the file as evidence, restore "
    "store.db from a backup (or revoke again what the log says is revoked), and find out who "
    "could write to it"
)


# -- what the library returns ------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_log`.

    ``entries`` and ``checkpoints`` count what was checked (up to the problem, if any);
    ``covered`` is the size of the largest checkpoint that verified, so entries
    ``covered..entries-1`` were checked against their stored leaf hashes only. When
    ``ok`` is false, ``first_problem`` says what failed, ``hint`` what to do; ``index``
    is the first entry that does not fit when it is known exactly, and ``span`` (first,
    last) the entries it lies in when only a range is known.

    When the log itself verifies, ``differences`` names every row of the tables that
    decide who may act that differs from what the entries say (then ``ok`` is false), and
    ``unbound`` every row whose entry was written before the log bound it (a note).
    """

    ok: bool
    entries: int
    checkpoints: int
    covered: int
    verifier_key: str
    key_pinned: bool
    first_problem: str | None = None
    hint: str | None = None
    index: int | None = None
    span: tuple[int, int] | None = None
    receipts_unreadable: int = 0
    differences: tuple[str, ...] = ()
    unbound: tuple[str, ...] = ()


class ShownEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the log as `audit show` lists it."""

    index: int
    kind: str
    at_ms: int
    actor: str
    subject: str
    detail: dict[str, str | int | bool]


class _Entry(msgspec.Struct, frozen=True, kw_only=True):
    """An audit entry as the verifier reads it: the writer's fields, read leniently
    (kinds and fields added later pass; the hashes are what is verified)."""

    kind: str
    at_ms: int
    actor: str
    subject: str = ""
    detail: dict[str, str | int | bool] = msgspec.field(default_factory=dict)


_entry_decoder = msgspec.msgpack.Decoder(_Entry)
_receipt_decoder = msgspec.msgpack.Decoder(Receipt)
_body_decoder = msgspec.msgpack.Decoder(ReceiptBody)


class _Problem(Exception):
    """The first thing that does not check out; ends the pass."""

    def __init__(
        self,
        message: str,
        hint: str,
        *,
        index: int | None = None,
        span: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.index = index
        self.span = span


# -- opening the store read-only ---------------------------------------------------------


def _open(db_path: Path | str) -> LogSource:
    """The log of the store ``db_path`` names: a SQLite file, or a PostgreSQL URL."""
    if isinstance(db_path, Path) and not db_path.is_file():
        raise ProjectMissing(
            f"no store at {db_path}",
            hint="give the project directory with --dir, or the SQLite file with --db",
        )
    source = open_log_source(db_path)
    if source is None:
        name = db_path.name if isinstance(db_path, Path) else "the database"
        raise StoreError(
            f"{name} is not a sealsync store (no audit log in it)",
            hint="give the project directory with --dir, or its store.db with --db",
        )
    return source


def _key_name(v: NoteVerifier) -> str:
    return f"{v.name}+{v.key_id.hex()}"


def _store_identity(source: LogSource) -> tuple[str | None, bytes | None]:
    """The log origin and signing key the store names for itself (either may be None)."""
    names = source.names()
    pid, pub = names.project_id, names.signing_public
    origin = (
        f"sealsync/{uuid.UUID(bytes=pid)}" if isinstance(pid, bytes) and len(pid) == 16 else None
    )
    public = pub if isinstance(pub, bytes) and len(pub) == 32 else None
    return origin, public


def _verifier(source: LogSource, key: str | None) -> tuple[NoteVerifier, _Problem | None]:
    """The key to verify with, and a problem if a pinned key is not the store's."""
    origin, public = _store_identity(source)
    if key is None:
        if origin is None or public is None:
            raise StoreError(
                "the store does not name its project id and signing key", hint=_HINT_KEY
            )
        return NoteVerifier.from_public_key(origin, public), None
    try:
        verifier = parse_verifier_key(key)
    except TlogError as e:
        raise SyncServerError(f"--key is not a verifier key ({e})", hint=_HINT_KEY) from None
    if origin is not None and verifier.name != origin:
        return verifier, _Problem(
            f"the key is for the log {verifier.name}, but this store holds the log {origin}",
            "pin the key of the project whose store this is (`GET /v1/log/key` on its server)",
        )
    if public is not None and public != verifier.public_key:
        store_key = NoteVerifier.from_public_key(verifier.name, public)
        return verifier, _Problem(
            f"the store's signing key ({_key_name(store_key)}) is not the pinned key "
            f"({_key_name(verifier)})",
            "if the pinned key is right, the store's key was replaced: keep this store file as "
            "evidence",
        )
    return verifier, None


# -- checkpoints, from three sources, in size order --------------------------------------


@dataclass(frozen=True)
class _Claim:
    """A checkpoint to hold the entries against. ``note`` is None for one already verified
    (``root`` set), and for a receipt that could not be read (both None)."""

    size: int
    note: str | bytes | None
    root: bytes | None
    where: str  # "" for the checkpoints table, else " (in …)" / " (from …)"

    @property
    def label(self) -> str:
        return f"checkpoint at size {self.size}{self.where}"


def _bundle_name(raw: object) -> str:
    if isinstance(raw, bytes) and len(raw) == 16:
        return str(uuid.UUID(bytes=raw))
    return repr(raw)


def _receipt_body(raw: object) -> ReceiptBody | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return _body_decoder.decode(_receipt_decoder.decode(raw).body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _note_size(note: str) -> int | None:
    """The size line of a checkpoint note, unverified (only to order the claims)."""
    lines = note.split("\n", 2)
    if len(lines) < 3 or not (lines[1].isascii() and lines[1].isdigit()):
        return None
    return int(lines[1])


def _receipt_size(raw: object) -> int:
    body = _receipt_body(raw)
    size = None if body is None else _note_size(body.checkpoint)
    return -1 if size is None else size


def _table_claims(source: LogSource) -> Iterator[_Claim]:
    for c in source.checkpoints(batch=BATCH):
        note = c.note
        yield _Claim(c.size, note if isinstance(note, str | bytes) else "", None, "")


def _receipt_claims(source: LogSource) -> Iterator[_Claim]:
    # The store sorts by the size each receipt's checkpoint names, in bounded memory.
    for r in source.receipts(batch=BATCH, rank=_receipt_size):
        size = -1 if r.rank is None else r.rank
        where = f" (in the receipt of bundle {_bundle_name(r.bundle_id)})"
        body = _receipt_body(r.receipt) if size >= 0 else None
        note = None if body is None else body.checkpoint
        yield _Claim(size, note, None, where)


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [a, b) of the inclusion path of ``index`` in a tree of ``size``
    (audit-log-v1.md §5.1), in proof order: from the leaf end."""
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _first_free(a: int, b: int, taken: list[tuple[int, int]]) -> int | None:
    x = a
    for s, e in taken:
        if e <= x:
            continue
        if s > x:
            break
        x = e
    return x if x < b else None


def _last_free(a: int, b: int, taken: list[tuple[int, int]]) -> int | None:
    x = b - 1
    for s, e in reversed(taken):
        if s > x:
            continue
        if e <= x:
            break
        x = s - 1
    return x if x >= a else None


# -- the pass ----------------------------------------------------------------------------


class _Pass:
    def __init__(self, source: LogSource, verifier: NoteVerifier) -> None:
        self.source = source
        self.verifier = verifier
        self.origin = verifier.name
        self.hasher = TreeHasher()
        self.n = 0  # entries checked so far, i.e. the size of the recomputed tree
        self.covered = 0  # largest size whose checkpoint verified and matched
        self.checkpoints = 0  # distinct sizes whose checkpoints verified and matched
        self.unreadable = 0  # receipts that could not be read
        self._root_at: tuple[int, bytes] | None = None
        self._verified: dict[str | bytes, Checkpoint] = {}  # notes verified at this size
        self._verified_size = -1
        self.access = AccessLog()
        self._has_bundles = source.keeps(Kept.RECEIPTS)

    def root(self) -> bytes:
        if self._root_at is None or self._root_at[0] != self.n:
            self._root_at = (self.n, self.hasher.root())
        return self._root_at[1]

    def saved(self, saved: Mapping[str, str | bytes]) -> list[_Claim]:
        claims: list[_Claim] = []
        for label, note in saved.items():
            try:
                cp = verify_checkpoint(note, self.verifier, origin=self.origin)
            except TlogError as e:
                raise _Problem(
                    f"the checkpoint in {label} does not verify with the key "
                    f"{_key_name(self.verifier)} ({e})",
                    _HINT_FILE,
                ) from None
            claims.append(_Claim(cp.size, None, cp.root_hash, f" (from {label})"))
        return sorted(claims, key=lambda c: c.size)

    def run(self, saved: list[_Claim]) -> None:
        sources = [_table_claims(self.source), iter(saved)]
        if self._has_bundles:
            sources.append(_receipt_claims(self.source))
        self._claims = heapq.merge(*sources, key=lambda c: c.size)
        self._next = next(self._claims, None)
        self._settle()
        for row in self.source.entries(batch=BATCH):
            self._entry(row.index, row.entry, row.leaf_hash)
            self._settle()
        if self._next is not None:
            self._beyond_end(self._next)

    def _entry(self, idx: object, entry: object, stored: object) -> None:
        n = self.n
        if idx != n:
            raise _Problem(
                f"entry {n} missing or out of order: found index {idx}", _HINT_ENTRIES, index=n
            )
        if not isinstance(entry, bytes) or not isinstance(stored, bytes):
            raise _Problem(
                f"entry {n} does not fit: its row does not hold bytes", _HINT_ENTRIES, index=n
            )
        h = leaf_hash(entry)
        if h != stored:
            raise _Problem(
                f"entry {n} does not fit: its bytes do not hash to the stored leaf hash (edited?)",
                _HINT_ENTRIES,
                index=n,
            )
        try:
            e = _entry_decoder.decode(entry)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            raise _Problem(
                f"entry {n} does not fit: it is not an audit entry ({err})", _HINT_ENTRIES, index=n
            ) from None
        if e.kind in ACCESS_KINDS:
            self.access.see(n, e.kind, e.at_ms, e.subject, e.detail)
        self.hasher.append(h)
        self.n = n + 1

    def _settle(self) -> None:
        """Check every claim at the current size (and any at a negative one)."""
        while self._next is not None and self._next.size <= self.n:
            self._check(self._next)
            self._next = next(self._claims, None)

    def _open(self, claim: _Claim) -> bytes | None:
        """The claim's root once its note verifies; None for an unreadable receipt."""
        if claim.root is not None:
            return claim.root
        if claim.note is None:
            self.unreadable += 1
            return None
        if claim.size != self._verified_size:
            self._verified, self._verified_size = {}, claim.size
        cp = self._verified.get(claim.note)
        if cp is None:
            try:
                cp = verify_checkpoint(claim.note, self.verifier, origin=self.origin)
            except TlogError as e:
                raise _Problem(
                    f"{claim.label} does not verify with the key {_key_name(self.verifier)} ({e})",
                    _HINT_CHECKPOINTS,
                ) from None
            self._verified[claim.note] = cp
        if cp.size != claim.size:
            raise _Problem(
                f"{claim.label} is signed for size {cp.size} (the checkpoints table was edited)",
                _HINT_CHECKPOINTS,
            )
        return cp.root_hash

    def _check(self, claim: _Claim) -> None:
        root = self._open(claim)
        if root is None:
            return
        if root != self.root():
            raise self._mismatch(claim)
        if claim.size > self.covered or self.checkpoints == 0:
            self.checkpoints += 1
            self.covered = claim.size

    def _beyond_end(self, claim: _Claim) -> None:
        while claim.root is None and claim.note is None:  # unreadable receipts
            self.unreadable += 1
            nxt = next(self._claims, None)
            if nxt is None:
                return
            claim = nxt
        self._open(claim)
        n = self.n
        raise _Problem(
            f"entry {n} missing: the {claim.label} covers {claim.size} entries, but the log "
            f"has {n} (entries deleted from the end?)",
            _HINT_ENTRIES,
            index=n,
        )

    def _mismatch(self, claim: _Claim) -> _Problem:
        start, end = self.covered, claim.size
        lo, hi, receipts = self._narrow(start, end)
        what = "edited together with its leaf hash, or moved?"
        if lo == hi and receipts:
            return _Problem(
                f"entry {lo} does not fit: the {claim.label} does not match the entries, and "
                f"the inclusion proofs of {receipts} signed receipt(s) pin the first "
                f"difference to this entry ({what})",
                _HINT_ENTRIES,
                index=lo,
            )
        if lo == hi:
            since = f"the checkpoint at size {start} does" if start else "the empty tree does"
            return _Problem(
                f"entry {lo} does not fit: the {claim.label} does not match the entries, but "
                f"{since} ({what})",
                _HINT_ENTRIES,
                index=lo,
            )
        narrowed = (
            f" (narrowed from {start}..{end - 1} by the inclusion proofs of {receipts} "
            "signed receipt(s))"
            if (lo, hi) != (start, end - 1)
            else ""
        )
        return _Problem(
            f"{claim.label} does not match the entries: the first entry that does not fit "
            f"lies in {lo}..{hi}{narrowed}",
            _HINT_ENTRIES,
            span=(lo, hi),
        )

    def _narrow(self, start: int, end: int) -> tuple[int, int, int]:
        """Bounds (first, last) of the first entry in [start, end) that does not fit,
        and how many receipts helped. Each receipt whose inclusion proof verifies against
        its signed checkpoint gives true hashes of leaf ranges (its entry, and the
        subtrees on its path); a range whose recomputed hash agrees holds no changed
        entry, one that disagrees holds at least one."""
        if not self._has_bundles or end - start <= 1:
            return start, end - 1, 0
        evidence: dict[tuple[int, int], bytes] = {}
        receipts = 0
        for kept in self.source.receipts(batch=BATCH):
            body = _receipt_body(kept.receipt)
            size = None if body is None else _note_size(body.checkpoint)
            if body is None or size is None or size <= start:
                continue
            leaf = leaf_hash(body.log_entry)
            try:
                cp = verify_checkpoint(body.checkpoint, self.verifier, origin=self.origin)
                verify_inclusion(leaf, body.log_index, cp.size, body.inclusion_proof, cp.root_hash)
            except TlogError:
                continue
            ranges = [(body.log_index, body.log_index + 1)]
            ranges += _path_ranges(body.log_index, cp.size)
            hashes = [leaf, *body.inclusion_proof]
            if len(ranges) != len(hashes):
                continue
            useful = False
            for r, h in zip(ranges, hashes, strict=True):
                if start <= r[0] and r[1] <= end and len(evidence) < MAX_EVIDENCE:
                    useful = evidence.setdefault(r, h) == h or useful
            receipts += useful
        if not evidence:
            return start, end - 1, 0
        agree, differ = self._recompute(start, end, evidence)
        taken = _merge(agree)
        lo = _first_free(start, end, taken)
        hi = _last_free(start, end, taken)
        for a, b in differ:
            last = _last_free(a, b, taken)
            hi = None if last is None or hi is None else min(hi, last)
        if lo is None or hi is None or hi < lo:  # the evidence contradicts itself
            return start, end - 1, 0
        return lo, hi, receipts

    def _recompute(
        self, start: int, end: int, evidence: dict[tuple[int, int], bytes]
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Recompute each evidence range from the entries, in one pass over [start, end)."""
        todo = sorted(evidence.items())
        agree: list[tuple[int, int]] = []
        differ: list[tuple[int, int]] = []
        active: list[tuple[tuple[int, int], bytes, TreeHasher]] = []
        i = 0
        for row in self.source.entries(batch=BATCH, start=start, end=end):
            idx, entry = row.index, row.entry
            while i < len(todo) and todo[i][0][0] == idx:
                active.append((todo[i][0], todo[i][1], TreeHasher()))
                i += 1
            h = leaf_hash(cast(bytes, entry))  # the pass checked each one before ``end``: bytes
            still = []
            for r, want, hasher in active:
                hasher.append(h)
                if r[1] == idx + 1:
                    (agree if hasher.root() == want else differ).append(r)
                else:
                    still.append((r, want, hasher))
            active = still
        return agree, differ


def verify_log(
    db_path: Path | str,
    *,
    key: str | None = None,
    saved: Mapping[str, str | bytes] | None = None,
) -> VerifyReport:
    """Recompute the log in the store file ``db_path`` and check it (module docstring).

    ``key`` is the verifier key to trust (``<origin>+<key id>+<base64 key>``); without it
    the key is derived from the store's own ``meta`` table. ``saved`` maps a label (a file
    name) to a checkpoint note kept by an auditor. Returns a :class:`VerifyReport`; raises
    a :class:`~syncserver.errors.SyncServerError` only when the check cannot run (no
    store, unreadable file, unusable key).
    """
    source = _open(db_path)  # one snapshot for every scan, even while the server writes
    try:
        verifier, mismatch = _verifier(source, key)
        run = _Pass(source, verifier)
        differences: tuple[str, ...] = ()
        unbound: tuple[str, ...] = ()
        try:
            if mismatch is not None:
                raise mismatch
            run.run(run.saved(saved or {}))
        except _Problem as p:
            problem: _Problem | None = p
        else:
            problem = None
            access = run.access.compare(source, verifier.public_key, batch=BATCH)
            differences, unbound = access.differences, access.unbound
            if differences:
                problem = _Problem(
                    f"{len(differences)} row(s) of the tables that decide who may act differ "
                    "from the log",
                    _HINT_TABLES,
                )
    finally:
        source.close()
    return VerifyReport(
        ok=problem is None,
        entries=run.n,
        checkpoints=run.checkpoints,
        covered=run.covered,
        verifier_key=verifier.vkey,
        key_pinned=key is not None,
        first_problem=None if problem is None else problem.message,
        hint=None if problem is None else problem.hint,
        index=None if problem is None else problem.index,
        span=None if problem is None else problem.span,
        receipts_unreadable=run.unreadable,
        differences=differences,
        unbound=unbound,
    )


def show_entries(
    db_path: Path | str,
    kind: str | None = None,
    subject: str | None = None,
    since_ms: int | None = None,
    limit: int | None = 100,
    *,
    newest_first: bool = False,
) -> Iterator[ShownEntry]:
    """The entries of the log in ``db_path`` that match every filter given, oldest first
    (or newest first), at most ``limit`` of them (None or 0: all). Read-only, streaming."""
    source = _open(db_path)
    shown = 0
    try:
        for row in source.entries(batch=BATCH, newest_first=newest_first):
            try:
                e = _entry_decoder.decode(cast(bytes, row.entry))  # if not: TypeError
            except (msgspec.DecodeError, msgspec.ValidationError, TypeError):
                raise SyncServerError(
                    f"entry {row.index} is not an audit entry",
                    hint="run `syncserver audit verify` to check the whole log",
                ) from None
            if (
                (kind is not None and e.kind != kind)
                or (subject is not None and e.subject != subject)
                or (since_ms is not None and e.at_ms < since_ms)
            ):
                continue
            yield ShownEntry(
                index=row.index,
                kind=e.kind,
                at_ms=e.at_ms,
                actor=e.actor,
                subject=e.subject,
                detail=e.detail,
            )
            shown += 1
            if limit and shown >= limit:
                return
    finally:
        source.close()
