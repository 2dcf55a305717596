"""The CPU-bound half of ingest, which may run in worker processes (api-v1.md §5).

Opening a bundle (decrypt, verify the signature and every hash), validating each record
against its form, splitting off and sealing sensitive answers and making the identity
tokens take most of ingest's time, and need nothing but the project's keys, the
published forms and the device registry. :class:`Preparer` does exactly that for one
stored bundle and returns a picklable :class:`Prepared`; the merge that follows (one
write transaction) stays in the server process with its single writer.

The server runs preparers in a pool of processes (``[server] ingest_processes``), so that
ingest uses every core instead of one interpreter's lock. A worker reads the store only,
through its own read-only connection, and writes nothing: attachments are verified and
left inside the sealed bundle (:mod:`syncserver.attachments`). The keys reach the
workers through the process pool's pipes, never through the file system.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from schemas.bundle import RecipientKey, open_bundle
from schemas.errors import BundleInvalid
from schemas.survey import Form, Validator
from schemas.wire import Record

from .project import Project
from .respondents import (
    IdentityAnswers,
    PseudonymKey,
    StoredTokens,
    identity_answers,
    identity_roles,
    stored_tokens,
)
from .sensitive import SensitivePlan, seal, sensitive_plan, split

__all__ = ["Prepared", "PreparedRecord", "Preparer", "PreparerPool", "pool_for_project"]


@dataclass
class PreparedRecord:
    """A valid record, ready to merge: its stored forms and its identity tokens.
    ``record`` holds the plain answers only: the sensitive ones travel sealed."""

    record: Record
    sha256: bytes
    plain: bytes
    sealed: bytes | None
    identity: IdentityAnswers = field(repr=False)
    tokens: StoredTokens = field(repr=False)
    postings: tuple[bytes, ...] = field(repr=False)


@dataclass
class Prepared:
    """What opening and validating one bundle found. ``reason`` is set (and nothing
    else) when the bundle could not be opened; it is private (quarantine, server log)."""

    reason: str | None = None
    bundle_id: uuid.UUID | None = None  # from the header
    device_id: uuid.UUID | None = None
    device_seq: int = 0
    prev_bundle_sha256: bytes = b""
    sha256: bytes = b""
    valid: list[PreparedRecord] = field(default_factory=list)
    bad: list[tuple[Record, str, bytes | None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Compiled:
    validator: Validator
    sensitive: SensitivePlan
    identity: dict[str, str]


class Preparer:
    """Opens and validates stored bundles of one project. Thread-safe; one read-only
    store connection per thread."""

    def __init__(self, recipient_private: bytes, store_key: bytes, db: str) -> None:
        self._recipient = RecipientKey(X25519PrivateKey.from_private_bytes(recipient_private))
        self._store_key = store_key
        self._tokens = PseudonymKey(store_key)
        self._db = db
        self._forms: dict[tuple[str, int], _Compiled] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def __repr__(self) -> str:
        return "Preparer(…)"

    @classmethod
    def for_project(cls, project: Project) -> Preparer:
        """A preparer for ``project``, running in the calling thread."""
        return cls(*_args(project))

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            self._local.conn = conn
        return conn

    def _device_key(self, device_id: uuid.UUID) -> Ed25519PublicKey | None:
        row = (
            self._conn()
            .execute("SELECT public_key FROM devices WHERE device_id = ?", (device_id.bytes,))
            .fetchone()
        )
        return None if row is None else Ed25519PublicKey.from_public_bytes(row[0])

    def _form(self, form_id: str, version: int) -> _Compiled | None:
        key = (form_id, version)
        with self._lock:
            hit = self._forms.get(key)
        if hit is not None:
            return hit
        row = (
            self._conn()
            .execute("SELECT document FROM forms WHERE form_id = ? AND version = ?", key)
            .fetchone()
        )
        if row is None:
            return None  # asked again next time: it may be published later
        form = msgspec.msgpack.decode(row[0], type=Form)
        compiled = _Compiled(Validator(form), sensitive_plan(form), identity_roles(form))
        with self._lock:
            self._forms[key] = compiled
        return compiled

    def prepare(self, blob: Path) -> Prepared:
        """Open the bundle stored at ``blob`` and validate its records."""
        try:
            with blob.open("rb") as f:
                # Attachments: hashes verified, bytes discarded (the bundle keeps them).
                opened = open_bundle(f, recipient=self._recipient, device_keys=self._device_key)
        except BundleInvalid as e:
            return Prepared(reason=f"bundle could not be opened: {e.reason.value}")
        m = opened.manifest
        out = Prepared(
            bundle_id=opened.header.bundle_id,
            device_id=m.device_id,
            device_seq=m.device_seq,
            prev_bundle_sha256=m.prev_bundle_sha256,
            sha256=opened.sha256,
        )
        entries = {(e.record_id, e.version): e.sha256 for e in m.records}
        for rec in opened.records:
            compiled = self._form(rec.form_id, rec.form_version)
            if compiled is None:
                reason = f"form '{rec.form_id}' v{rec.form_version} is not published"
                out.bad.append((rec, reason, None))
                continue
            problems = compiled.validator.validate(rec.answers, stopped_early=rec.stopped_early)
            if problems:
                reason = "record does not satisfy its form"
                out.bad.append((rec, reason, msgspec.msgpack.encode(problems)))
                continue
            sha = entries[(rec.record_id, rec.version)]
            plain, secret = split(dict(rec.answers), compiled.sensitive)
            who = identity_answers(compiled.identity, rec.answers)
            tokens, postings = stored_tokens(self._tokens, who)
            stored = msgspec.structs.replace(rec, answers=plain)  # what crosses back, too
            out.valid.append(
                PreparedRecord(
                    stored,
                    sha,
                    msgspec.msgpack.encode(stored),
                    seal(self._store_key, rec.record_id, rec.version, sha, secret),
                    who,
                    tokens,
                    postings,
                )
            )
        return out


# -- worker processes ----------------------------------------------------------------------

_WORKER: Preparer | None = None


def _init_worker(recipient_private: bytes, store_key: bytes, db: str) -> None:
    global _WORKER
    _WORKER = Preparer(recipient_private, store_key, db)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """A worker holds the project's private keys: it must not outlive a server that was
    killed (SIGKILL leaves no time to stop the pool). Once the parent is gone the worker
    is re-parented, and leaves at once."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(0)


def _prepare_in_worker(blob: str) -> Prepared:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.prepare(Path(blob))


class PreparerPool:
    """Preparers in ``processes`` worker processes, started on first use; with 0, the
    preparer runs in the calling thread. A pool whose worker died is replaced once."""

    def __init__(self, preparer: Preparer, args: tuple[Any, ...], processes: int) -> None:
        self._inline = preparer
        self._args = args
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PreparerPool({self._processes} processes)"

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self._processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=self._args,
                )
            return self._pool

    def prepare(self, blob: Path) -> Prepared:
        if self._processes == 0:
            return self._inline.prepare(blob)
        try:
            return self._executor().submit(_prepare_in_worker, str(blob)).result()
        except concurrent.futures.process.BrokenProcessPool:
            with self._lock:
                broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            return self._executor().submit(_prepare_in_worker, str(blob)).result()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def pool_for_project(project: Project) -> PreparerPool:
    """The preparers of a running server: ``[server] ingest_processes`` worker processes
    (-1: one per core, none on a single core; 0: in the server's own threads)."""
    n = project.config.server.ingest_processes
    if n < 0:
        cores = os.cpu_count() or 1
        n = cores if cores > 1 else 0
    return PreparerPool(Preparer.for_project(project), _args(project), n)


def _args(project: Project) -> tuple[bytes, bytes, str]:
    return (
        project.identity.recipient.private.private_bytes_raw(),
        project.identity.store_key,
        str(project.config.sqlite_path),
    )
