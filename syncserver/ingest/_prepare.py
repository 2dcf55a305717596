"""The CPU-bound half of ingest, which may run in worker processes (api-v1.md §5).

Opening a bundle (decrypt, verify the signature and every hash), validating each record
against its form, splitting off and sealing sensitive answers and making the identity
tokens take most of ingest's time, and need nothing but the project's keys, the
published forms and the device registry. :class:`Preparer` does exactly that for one
stored bundle and returns a picklable :class:`Prepared`; the merge that follows (one
write transaction) stays in the server process with its single writer.

The server runs preparers in a pool of processes (``[server] ingest_processes``), so that
ingest uses every core instead of one interpreter's lock. A worker reads the store only,
through a store of its own that it never opens for writing (read transactions only), and
the stored bundles through a blob store of its own, opened read-only; it writes nothing:
attachments are verified and left inside the sealed bundle
(:mod:`syncserver.records.attachments`). The keys reach the workers through the process
pool's pipes, never through the file system.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import re
import resource
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from schemas.bundle import RecipientKey, RecordEntry, open_bundle
from schemas.errors import BundleInvalid, BundleReason, Problem
from schemas.survey import MAX_PROBLEMS, Form, Validator
from schemas.wire import RecordHead, encode_record

from ..project import Project
from ..records.sensitive import SensitivePlan, seal, sensitive_plan, split
from ..respondents import (
    IdentityAnswers,
    PseudonymKey,
    StoredTokens,
    identity_answers,
    identity_roles,
    stored_tokens,
)
from ..store import Store, open_store
from ..store.blobs import BlobRef, Blobs, BlobUnreadable, open_blobs

__all__ = [
    "BadRecord",
    "Prepared",
    "PreparedRecord",
    "Preparer",
    "PreparerPool",
    "WorkerDied",
    "pool_for_project",
]


#: Records larger than this that do not fit their form's shape are reported with the
#: first problem found while decoding, never decoded generically (bundle-v1.md §8).
DETAIL_BYTES = 64 * 1024
#: Problems kept per bundle, across its records (each keeps at most MAX_PROBLEMS).
MAX_BUNDLE_PROBLEMS = 1000

_SAFE_PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}|\[[0-9]{1,7}\]){0,32}")


@dataclass
class PreparedRecord:
    """A valid record, ready to merge: its stored forms and its identity tokens.
    ``plain`` is the record with its plain answers only: the sensitive ones travel
    sealed."""

    record_id: uuid.UUID
    version: int
    form_id: str
    form_version: int
    sha256: bytes
    plain: bytes
    sealed: bytes | None
    identity: IdentityAnswers = field(repr=False)
    tokens: StoredTokens = field(repr=False)
    postings: tuple[bytes, ...] = field(repr=False)


@dataclass(frozen=True)
class BadRecord:
    """A record that goes to quarantine: its id and the verdict, never its answers
    (they stay in the sealed bundle). ``problems`` is msgpack of ``list[Problem]``."""

    record_id: uuid.UUID
    version: int
    reason: str
    problems: bytes | None = None


@dataclass
class Prepared:
    """What opening and validating one bundle found. ``reason`` is set (and nothing
    else) when the bundle could not be opened; it is private (quarantine, server log).
    Its size is linear in the bundle's: records re-encoded, problems capped."""

    reason: str | None = None
    bundle_id: uuid.UUID | None = None  # from the header
    device_id: uuid.UUID | None = None
    device_seq: int = 0
    prev_bundle_sha256: bytes = b""
    sha256: bytes = b""
    valid: list[PreparedRecord] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)


@dataclass(frozen=True)
class _Compiled:
    validator: Validator
    sensitive: SensitivePlan
    identity: dict[str, str]


class Preparer:
    """Opens and validates stored bundles of one project. Thread-safe. It reads devices
    and published forms from ``store`` (read transactions only), the bundles from
    ``blobs``, and never writes."""

    def __init__(
        self,
        recipient_private: bytes,
        store_key: bytes,
        store: Store,
        project_id: bytes,
        blobs: Blobs,
    ) -> None:
        self._recipient = RecipientKey(X25519PrivateKey.from_private_bytes(recipient_private))
        self._store_key = store_key
        self._tokens = PseudonymKey(store_key)
        self._store = store
        self._blobs = blobs
        self._project_id = uuid.UUID(bytes=project_id)
        self._forms: dict[tuple[str, int], _Compiled] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Preparer(…)"

    @classmethod
    def for_project(cls, project: Project) -> Preparer:
        """A preparer for ``project``, running in the calling thread, on its store and
        its blobs."""
        recipient_private, store_key, _url, _root, project_id = _args(project)
        return cls(recipient_private, store_key, project.store, project_id, project.blobs)

    def _device_key(self, device_id: uuid.UUID) -> Ed25519PublicKey | None:
        device = self._store.read_sync(lambda tx: tx.devices.get(device_id))
        return None if device is None else Ed25519PublicKey.from_public_bytes(device.public_key)

    def _form(self, form_id: str, version: int) -> _Compiled | None:
        key = (form_id, version)
        with self._lock:
            hit = self._forms.get(key)
        if hit is not None:
            return hit
        row = self._store.read_sync(lambda tx: tx.forms.get(form_id, version))
        if row is None:
            return None  # asked again next time: it may be published later
        form = msgspec.msgpack.decode(row.document, type=Form)
        compiled = _Compiled(Validator(form), sensitive_plan(form), identity_roles(form))
        with self._lock:
            self._forms[key] = compiled
        return compiled

    def prepare(
        self,
        blob: BlobRef,
        *,
        bundle_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
    ) -> Prepared:
        """Open the stored bundle ``blob`` (as :meth:`Blobs.blob` names it) and validate
        its records, one at a time.

        The header must name this project (and ``bundle_id``, when given) before any key
        is used; with ``device_id`` (the device that uploaded it) the bundle must be
        sealed by that device. A blob that cannot be read is a ``reason`` too."""
        sealer: list[uuid.UUID] = []

        def device_keys(d: uuid.UUID) -> Ed25519PublicKey | None:
            sealer.append(d)
            return self._device_key(d) if device_id is None or d == device_id else None

        records = _Records(self)
        try:
            with self._blobs.open(blob) as f:
                # Attachments: hashes verified, bytes discarded (the bundle keeps them).
                opened = open_bundle(
                    f,
                    recipient=self._recipient,
                    device_keys=device_keys,
                    records=records,
                    project_id=self._project_id,
                    bundle_id=bundle_id,
                )
        except BundleInvalid as e:
            if e.reason is BundleReason.UNKNOWN_DEVICE and sealer and sealer[0] != device_id:
                if device_id is not None and self._device_key(sealer[0]) is not None:
                    return Prepared(
                        reason=f"the bundle was sealed by device {sealer[0]}, not by the"
                        f" device that uploaded it ({device_id})"
                    )
            return Prepared(reason=f"bundle could not be opened: {e.reason.value}")
        except BlobUnreadable as e:
            return Prepared(reason=e.reason)
        m = opened.manifest
        return Prepared(
            bundle_id=opened.header.bundle_id,
            device_id=m.device_id,
            device_seq=m.device_seq,
            prev_bundle_sha256=m.prev_bundle_sha256,
            sha256=opened.sha256,
            valid=records.valid,
            bad=records.bad,
        )

    def _prepare_record(
        self, head: RecordHead, entry: RecordEntry, room: int
    ) -> tuple[PreparedRecord | BadRecord, int]:
        """A :class:`PreparedRecord`, or a :class:`BadRecord` keeping at most ``room``
        problems (with their count); and how many problems it keeps."""
        compiled = self._form(head.form_id, head.form_version)
        if compiled is None:
            reason = f"form '{head.form_id}' v{head.form_version} is not published"
            return BadRecord(head.record_id, head.version, reason), 0
        validator = compiled.validator
        answers: Any = None
        misfit: Problem | None = None
        try:
            # Into the form's shape first: unknown names, wrong types and repeats over
            # max_count are refused while decoding, before anything is allocated.
            msgspec.msgpack.decode(head.answers, type=validator.answers_type)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            misfit = _misfit(e)
        if misfit is None or len(head.answers) <= DETAIL_BYTES:
            try:
                answers = msgspec.msgpack.decode(head.answers)
            except (msgspec.DecodeError, RecursionError):
                answers = None
        if isinstance(answers, dict):
            problems = validator.validate(answers, stopped_early=head.stopped_early, keep=room)
        else:
            problems = []
        if misfit is not None and not problems:
            # Too large to decode generically, or the shape refused what the validator
            # would take: the first problem the shaped decoder found.
            problems = [misfit] if room > 0 else [_more(1)]
        if problems:
            bad = BadRecord(
                head.record_id,
                head.version,
                "record does not satisfy its form",
                msgspec.msgpack.encode(problems),
            )
            return bad, sum(1 for p in problems if p.code != "more_problems")
        plain, secret = split(answers, compiled.sensitive)
        who = identity_answers(compiled.identity, answers)
        tokens, postings = stored_tokens(self._tokens, who)
        ok = PreparedRecord(
            record_id=head.record_id,
            version=head.version,
            form_id=head.form_id,
            form_version=head.form_version,
            sha256=entry.sha256,
            plain=encode_record(head.with_answers(plain)),
            sealed=seal(self._store_key, head.record_id, head.version, entry.sha256, secret),
            identity=who,
            tokens=tokens,
            postings=postings,
        )
        return ok, 0


class _Records:
    """The record sink of one :meth:`Preparer.prepare`: each record is validated as it
    is read, and only what is kept of it stays (bundle-v1.md §8)."""

    def __init__(self, preparer: Preparer) -> None:
        self._preparer = preparer
        self.valid: list[PreparedRecord] = []
        self.bad: list[BadRecord] = []
        self._kept = 0  # problems kept so far in this bundle

    def record(self, head: RecordHead, entry: RecordEntry) -> None:
        room = max(0, min(MAX_PROBLEMS, MAX_BUNDLE_PROBLEMS - self._kept))
        out, kept = self._preparer._prepare_record(head, entry, room)
        if isinstance(out, PreparedRecord):
            self.valid.append(out)
        else:
            self.bad.append(out)
            self._kept += kept


def _misfit(e: msgspec.ValidationError | msgspec.DecodeError) -> Problem:
    """The first problem msgspec found, as a problem that holds nothing of the record:
    msgspec's own messages may quote a value or a name from it."""
    text = str(e)
    path = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else "$"
    if _SAFE_PATH.fullmatch(path) is None:
        path = "$"
    code = "unknown_field" if "unknown field" in text else "type"
    return Problem(
        path=path,
        code=code,
        message="does not fit the form here (a record over 64 KiB that does not fit its"
        " form is reported with its first problem only)",
    )


def _more(n: int) -> Problem:
    return Problem(path="$", code="more_problems", message=f"{n} more problems not listed")


# -- worker processes ----------------------------------------------------------------------

_WORKER: Preparer | None = None

#: Address space a worker may take beyond what it holds once started: a bundle that
#: would need more is refused with MemoryError (and quarantined), not left to the OOM
#: killer. Opening is bounded far below this (bundle-v1.md §8).
WORKER_HEADROOM_BYTES = 1024 * 1024 * 1024


class WorkerDied(Exception):
    """The ingest worker died while opening a bundle, and died again when the bundle was
    opened alone in a process of its own: the bundle is the cause."""

    reason = "the ingest worker died while opening this bundle (out of memory, or a crash)"


def worker_preparer(
    recipient_private: bytes, store_key: bytes, url: str, root: str, project_id: bytes
) -> Preparer:
    """A preparer made from :func:`_args` in a process of its own, with a store and a
    blob store of its own, opened read-only (it writes nothing)."""
    store = open_store(url, Path(root), readonly=True)
    blobs = open_blobs(url, Path(root), readonly=True)
    return Preparer(recipient_private, store_key, store, project_id, blobs)


def _init_worker(*args: Any) -> None:
    global _WORKER
    _WORKER = worker_preparer(*args)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _limit_memory(WORKER_HEADROOM_BYTES)


def _limit_memory(headroom: int) -> None:
    """Cap this process's address space at its current size plus ``headroom``."""
    try:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = size + headroom
        if hard == resource.RLIM_INFINITY or want < hard:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (OSError, ValueError):
        pass  # no /proc (not Linux): the worker runs without a cap


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """A worker holds the project's private keys: it must not outlive a server that was
    killed (SIGKILL leaves no time to stop the pool). Once the parent is gone the worker
    is re-parented, and leaves at once."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(0)


def _prepare_in_worker(
    blob: BlobRef, bundle_id: uuid.UUID | None, device_id: uuid.UUID | None
) -> Prepared:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.prepare(blob, bundle_id=bundle_id, device_id=device_id)


class PreparerPool:
    """Preparers in ``processes`` worker processes, started on first use; with 0, the
    preparer runs in the calling thread.

    A worker that dies (the OOM killer, a crash) breaks the whole pool, and with it the
    bundles other workers were opening: the pool is replaced, and each of those bundles
    is opened again alone, in a process of its own. One that kills that process too is
    the cause (:class:`WorkerDied`); the others go through."""

    def __init__(self, preparer: Preparer, args: tuple[Any, ...], processes: int) -> None:
        self._inline = preparer
        self._args = args
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PreparerPool({self._processes} processes)"

    def _new(self, processes: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=self._args,
        )

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = self._new(self._processes)
            return self._pool

    def _replace(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken:
                return  # another thread replaced it already
            self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def prepare(
        self,
        blob: BlobRef,
        *,
        bundle_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
    ) -> Prepared:
        if self._processes == 0:
            return self._inline.prepare(blob, bundle_id=bundle_id, device_id=device_id)
        args = (blob, bundle_id, device_id)
        executor = self._executor()
        try:
            return executor.submit(_prepare_in_worker, *args).result()
        except concurrent.futures.process.BrokenProcessPool:
            self._replace(executor)
        with self._new(1) as alone:
            try:
                return alone.submit(_prepare_in_worker, *args).result()
            except concurrent.futures.process.BrokenProcessPool:
                raise WorkerDied() from None

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


def _args(project: Project) -> tuple[bytes, bytes, str, str, bytes]:
    """What a worker process is started with (:func:`worker_preparer`; it must be
    picklable, and travels through the pool's pipe, never argv): the project's keys,
    where its store is, and its id."""
    return (
        project.identity.recipient.private.private_bytes_raw(),
        project.identity.store_key,
        project.config.store.url,
        str(project.config.root),
        project.project_id.bytes,
    )
