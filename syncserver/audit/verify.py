"""`syncserver audit verify` and `syncserver audit show`: an auditor's view of a project's
log, read from the SQLite file alone (docs/spec/audit-log-v1.md §13).

The verifier shares no code path with the writer, as DESIGN.md asks: hashing, checkpoint
and proof checks come from :mod:`schemas.tlog` only, never from :mod:`syncserver.audit.tlog`,
:mod:`syncserver.audit.log` or the hashing in :mod:`syncserver.audit`, and entries are read
with a struct of its own. It opens the store read-only and needs no passphrase: the log's
key is public. An auditor SHOULD pin that key (``--key``): a key read from the store only
shows that the store agrees with itself. Checkpoints an auditor saved earlier
(``--checkpoint FILE``) are what catch a server that rewrote its history together with
its own checkpoints table.

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

``register(subparsers, project_options)`` adds the ``audit`` command to the admin CLI.
"""

from __future__ import annotations

import argparse
import datetime
import heapq
import json
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from schemas.errors import TlogError
from schemas.tlog import (
    MAX_NOTE_BYTES,
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
from ..project.config import load_config
from .access_check import ACCESS_KINDS, AccessLog, when

__all__ = ["ShownEntry", "VerifyReport", "register", "show_entries", "verify_log"]

#: Rows fetched from SQLite at a time.
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


def _connect(db_path: Path) -> sqlite3.Connection:
    if not db_path.is_file():
        raise ProjectMissing(
            f"no store at {db_path}",
            hint="give the project directory with --dir, or the SQLite file with --db",
        )
    uri = f"file:{quote(str(db_path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {db_path.name} read-only ({e})") from None
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as e:
        conn.close()
        raise StoreError(
            f"{db_path.name} cannot be read ({e})", hint="is it a sealsync store (store.db)?"
        ) from None
    if not {"meta", "audit", "checkpoints"} <= tables:
        conn.close()
        raise StoreError(
            f"{db_path.name} is not a sealsync store (no audit log in it)",
            hint="give the project directory with --dir, or its store.db with --db",
        )
    return conn


def _key_name(v: NoteVerifier) -> str:
    return f"{v.name}+{v.key_id.hex()}"


def _store_identity(conn: sqlite3.Connection) -> tuple[str | None, bytes | None]:
    """The log origin and signing key the store names for itself (either may be None)."""
    meta = dict(
        conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('project_id', 'signing_public')"
        ).fetchall()
    )
    pid, pub = meta.get("project_id"), meta.get("signing_public")
    origin = (
        f"sealsync/{uuid.UUID(bytes=pid)}" if isinstance(pid, bytes) and len(pid) == 16 else None
    )
    public = pub if isinstance(pub, bytes) and len(pub) == 32 else None
    return origin, public


def _verifier(conn: sqlite3.Connection, key: str | None) -> tuple[NoteVerifier, _Problem | None]:
    """The key to verify with, and a problem if a pinned key is not the store's."""
    origin, public = _store_identity(conn)
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


def _table_claims(conn: sqlite3.Connection) -> Iterator[_Claim]:
    cur = conn.execute("SELECT size, note FROM checkpoints ORDER BY size")
    while rows := cur.fetchmany(BATCH):
        for size, note in rows:
            yield _Claim(int(size), note if isinstance(note, str | bytes) else "", None, "")


def _receipt_claims(conn: sqlite3.Connection) -> Iterator[_Claim]:
    # SQLite sorts (spilling to a temporary file if need be), so memory stays bounded.
    conn.create_function("sealsync_receipt_size", 1, _receipt_size, deterministic=True)
    cur = conn.execute(
        "SELECT bundle_id, receipt, sealsync_receipt_size(receipt) AS s FROM bundles"
        " WHERE receipt IS NOT NULL ORDER BY s"
    )
    while rows := cur.fetchmany(BATCH):
        for bundle_id, raw, size in rows:
            where = f" (in the receipt of bundle {_bundle_name(bundle_id)})"
            body = _receipt_body(raw) if size >= 0 else None
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
    def __init__(self, conn: sqlite3.Connection, verifier: NoteVerifier) -> None:
        self.conn = conn
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
        self._has_bundles = bool(
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bundles'"
            ).fetchone()
        )

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
        sources = [_table_claims(self.conn), iter(saved)]
        if self._has_bundles:
            sources.append(_receipt_claims(self.conn))
        self._claims = heapq.merge(*sources, key=lambda c: c.size)
        self._next = next(self._claims, None)
        self._settle()
        cur = self.conn.execute("SELECT idx, entry, leaf_hash FROM audit ORDER BY idx")
        while rows := cur.fetchmany(BATCH):
            for idx, entry, stored in rows:
                self._entry(idx, entry, stored)
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
        cur = self.conn.execute("SELECT receipt FROM bundles WHERE receipt IS NOT NULL")
        while rows := cur.fetchmany(BATCH):
            for (raw,) in rows:
                body = _receipt_body(raw)
                size = None if body is None else _note_size(body.checkpoint)
                if body is None or size is None or size <= start:
                    continue
                leaf = leaf_hash(body.log_entry)
                try:
                    cp = verify_checkpoint(body.checkpoint, self.verifier, origin=self.origin)
                    verify_inclusion(
                        leaf, body.log_index, cp.size, body.inclusion_proof, cp.root_hash
                    )
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
        cur = self.conn.execute(
            "SELECT idx, entry FROM audit WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        while rows := cur.fetchmany(BATCH):
            for idx, entry in rows:
                while i < len(todo) and todo[i][0][0] == idx:
                    active.append((todo[i][0], todo[i][1], TreeHasher()))
                    i += 1
                h = leaf_hash(entry)
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
    db_path: Path,
    *,
    key: str | None = None,
    saved: Mapping[str, str | bytes] | None = None,
) -> VerifyReport:
    """Recompute the log in the SQLite file ``db_path`` and check it (module docstring).

    ``key`` is the verifier key to trust (``<origin>+<key id>+<base64 key>``); without it
    the key is derived from the store's own ``meta`` table. ``saved`` maps a label (a file
    name) to a checkpoint note kept by an auditor. Returns a :class:`VerifyReport`; raises
    a :class:`~syncserver.errors.SyncServerError` only when the check cannot run (no
    store, unreadable file, unusable key).
    """
    conn = _connect(db_path)
    try:
        conn.execute("BEGIN")  # one snapshot for every cursor, even while the server writes
        verifier, mismatch = _verifier(conn, key)
        run = _Pass(conn, verifier)
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
            access = run.access.compare(conn, verifier.public_key)
            differences, unbound = access.differences, access.unbound
            if differences:
                problem = _Problem(
                    f"{len(differences)} row(s) of the tables that decide who may act differ "
                    "from the log",
                    _HINT_TABLES,
                )
        conn.execute("ROLLBACK")
    except sqlite3.Error as e:
        raise StoreError(f"cannot read {db_path.name} ({e.__class__.__name__}: {e})") from None
    finally:
        conn.close()
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
    db_path: Path,
    kind: str | None = None,
    subject: str | None = None,
    since_ms: int | None = None,
    limit: int | None = 100,
    *,
    newest_first: bool = False,
) -> Iterator[ShownEntry]:
    """The entries of the log in ``db_path`` that match every filter given, oldest first
    (or newest first), at most ``limit`` of them (None or 0: all). Read-only, streaming."""
    conn = _connect(db_path)
    order = "DESC" if newest_first else "ASC"
    shown = 0
    try:
        conn.execute("BEGIN")
        cur = conn.execute(f"SELECT idx, entry FROM audit ORDER BY idx {order}")
        while rows := cur.fetchmany(BATCH):
            for idx, raw in rows:
                try:
                    e = _entry_decoder.decode(raw)
                except (msgspec.DecodeError, msgspec.ValidationError, TypeError):
                    raise SyncServerError(
                        f"entry {idx} is not an audit entry",
                        hint="run `syncserver audit verify` to check the whole log",
                    ) from None
                if (
                    (kind is not None and e.kind != kind)
                    or (subject is not None and e.subject != subject)
                    or (since_ms is not None and e.at_ms < since_ms)
                ):
                    continue
                yield ShownEntry(
                    index=idx,
                    kind=e.kind,
                    at_ms=e.at_ms,
                    actor=e.actor,
                    subject=e.subject,
                    detail=e.detail,
                )
                shown += 1
                if limit and shown >= limit:
                    return
    except sqlite3.Error as e:
        raise StoreError(f"cannot read {db_path.name} ({e.__class__.__name__}: {e})") from None
    finally:
        conn.close()


# -- the command line --------------------------------------------------------------------


def _db_path(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    return load_config(Path(args.dir)).sqlite_path


def _read_note(name: str) -> bytes:
    try:
        with open(name, "rb") as f:
            return f.read(MAX_NOTE_BYTES + 1)
    except OSError as e:
        raise SyncServerError(
            f"cannot read the checkpoint file {name} ({e.strerror})",
            hint="save checkpoints with `curl …/v1/log/checkpoint > FILE` and keep them",
        ) from None


def _verify(args: argparse.Namespace) -> int:
    saved = {name: _read_note(name) for name in args.checkpoint}
    report = verify_log(_db_path(args), key=args.key, saved=saved)
    if not report.ok and not report.differences:
        raise SyncServerError(
            f"audit log does not verify: {report.first_problem}", hint=report.hint
        )
    print(
        f"audit log verified: {report.entries} entries, {report.checkpoints} signed "
        f"checkpoint(s), the latest covering {report.covered} entries"
    )
    source = "pinned with --key" if report.key_pinned else "read from the store"
    print(f"  key {report.verifier_key} ({source})")
    if report.covered < report.entries:
        print(
            f"  note: entries {report.covered}..{report.entries - 1} come after the last signed "
            "checkpoint: only their leaf hashes were checked"
        )
    if report.receipts_unreadable:
        print(f"  note: {report.receipts_unreadable} receipt(s) in the store could not be read")
    if not report.key_pinned:
        print("  note: pin the key with --key for an audit that does not trust the store")
    for line in report.unbound:
        print(f"  note: {line}")
    if report.differences:
        print(
            f"syncserver: the tables that decide who may act differ from the audit log "
            f"({len(report.differences)} row(s)):",
            file=sys.stderr,
        )
        for line in report.differences:
            print(f"  {line}", file=sys.stderr)
        print(f"hint: {report.hint}", file=sys.stderr)
        return 1
    return 0


def _since(text: str) -> int:
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time (e.g. 2026-11-23 or 2026-11-23T12:00Z)"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.UTC)
    return int(t.timestamp() * 1000)


_HEX_HASH = re.compile(r"[0-9a-f]{64}")
#: Hex digits of a hash shown by `audit show` (all of them with --json).
SHORT_HASH = 12


def _text(value: str) -> str:
    """A string as one token of a line: bare when plain, else JSON-quoted (so spaces,
    quotes and control characters cannot blur or forge the line)."""
    if value and value.isprintable() and not any(c in value for c in " ='\"\\"):
        return value
    return json.dumps(value, ensure_ascii=False)


def _value(key: str, value: str | int | bool) -> str:
    """A detail value as a person reads it (audit-log-v1.md §13.4)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return when(value) if key.endswith("_ms") else str(value)
    if _HEX_HASH.fullmatch(value):
        return value[:SHORT_HASH] + "…"
    return _text(value)


def _line(e: ShownEntry) -> str:
    parts = [f"{e.index:>7}", when(e.at_ms), f"{e.kind:<12}"]
    if e.subject:
        parts.append(_text(e.subject))
    parts.append(f"by {_text(e.actor)}")
    parts += [f"{_text(k)}={_value(k, v)}" for k, v in e.detail.items()]
    return "  ".join(parts)


def _show(args: argparse.Namespace) -> int:
    entries = show_entries(
        _db_path(args),
        kind=args.kind,
        subject=args.subject,
        since_ms=args.since,
        limit=args.limit,
        newest_first=args.newest,
    )
    found = False
    for e in entries:
        found = True
        if args.json:
            sys.stdout.write(msgspec.json.encode(e).decode() + "\n")
        else:
            print(_line(e))
    if not found and not args.json:
        print("no entries match", file=sys.stderr)
    return 0


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        default=os.environ.get("SEALSYNC_DIR", "."),
        help="project directory (default: $SEALSYNC_DIR or .)",
    )
    p.add_argument("--db", metavar="PATH", help="the SQLite store itself (instead of --dir)")


def register(
    subparsers: Any, project_options: Callable[[argparse.ArgumentParser], None] | None = None
) -> None:
    """Add ``audit verify`` and ``audit show`` to ``subparsers`` (from
    ``ArgumentParser.add_subparsers``).

    ``project_options`` is accepted so the call matches the other commands, but not
    used: it adds passphrase options, and these actions never need the passphrase (they
    read the store read-only). ``--dir`` behaves as everywhere else.
    """
    del project_options
    audit = subparsers.add_parser(
        "audit",
        help="verify and list the audit log (read-only, no passphrase)",
        description="Verify the project's audit log from its store, or list its entries. "
        "Needs no passphrase: the store is read, never written.",
    )
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    v = asub.add_parser(
        "verify",
        help="recompute the log and check every signed checkpoint; name the first bad entry",
    )
    _store_options(v)
    v.add_argument(
        "--key",
        metavar="VKEY",
        help="the log's verifier key to trust (recommended; default: the key in the store)",
    )
    v.add_argument(
        "--checkpoint",
        metavar="FILE",
        action="append",
        default=[],
        help="a checkpoint note saved earlier; must match the log (repeatable)",
    )
    v.set_defaults(func=_verify)
    s = asub.add_parser("show", help="list audit entries, oldest first")
    _store_options(s)
    s.add_argument("--kind", metavar="KIND", help="only entries of this kind (e.g. upload)")
    s.add_argument("--subject", metavar="ID", help="only entries about this id")
    s.add_argument(
        "--since", metavar="TIME", type=_since, help="only entries at or after TIME (UTC)"
    )
    s.add_argument("--limit", metavar="N", type=int, default=100, help="at most N entries (0: all)")
    s.add_argument("--newest", action="store_true", help="newest first")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.set_defaults(func=_show)
