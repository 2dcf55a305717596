"""Ingest and the upload service when another server shares the store (issue 12,
"Several servers"): what one server reads before its write transaction may have
changed by the time the transaction runs, because another server did the same thing
in between. Each test makes that happen at exactly that point, without threads or
timing: the project's store is wrapped so that "the other server" (the same project,
its store unwrapped) does its work just before a named transaction is written.

On SQLite these are the interleavings one writer allows; on PostgreSQL the same
transactions are also safe when they overlap (tests/syncserver/store/test_ingest.py
holds two transactions open against each other)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import io
import random
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import make_record, seal_for
from support.project import NOW
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.wire import Receipt, ReceiptBody
from syncserver._time import ms
from syncserver.audit.entries import AuditEntry, decode_entry
from syncserver.forms import publish_form
from syncserver.ingest import IngestReport, ingest_bundle, persist_upload
from syncserver.ingest._prepare import Prepared, Preparer
from syncserver.project import Project
from syncserver.service import Service
from syncserver.store import BundleState, Store, Tx
from syncserver.store.blobs import Blobs

T = TypeVar("T")
FORM = shipped_form("escapee-interview")


class Meanwhile:
    """``store``, except that ``other()`` runs once, just before the first write whose
    transaction function is ``where`` (its qualified name): what another server did
    between this server's reads and its write."""

    def __init__(self, store: Store, where: str, other: Callable[[], object]) -> None:
        self._store, self._where, self._other = store, where, other
        self.ran = False

    def _before(self, fn: Callable[[Tx], Any]) -> None:
        if not self.ran and getattr(fn, "__qualname__", "") == self._where:
            self.ran = True
            self._other()

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        self._before(fn)
        return self._store.write_sync(fn)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        await asyncio.to_thread(self._before, fn)
        return await self._store.write(fn)

    def read_sync(self, fn: Callable[[Tx], T]) -> T:
        return self._store.read_sync(fn)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        return await self._store.read(fn)

    def close(self) -> None:
        self._store.close()


def meanwhile(project: Project, where: str, other: Callable[[], object]) -> Project:
    """``project`` as this server sees it: ``other`` runs before the write ``where``."""
    return dataclasses.replace(project, store=Meanwhile(project.store, where, other))


@dataclasses.dataclass
class Env:
    project: Project
    area: Blobs
    preparer: Preparer
    key: Ed25519PrivateKey
    device: uuid.UUID
    bundles: list[bytes] = dataclasses.field(default_factory=list)

    def seal(self, n: int, *, seq: int | None = None) -> bytes:
        """A bundle of ``n`` synthetic records, next in the device's chain (or ``seq``,
        chained to the bundle before it in ``self.bundles``)."""
        seq = seq or len(self.bundles) + 1
        prev = hashlib.sha256(self.bundles[seq - 2]).digest() if seq > 1 else bytes(32)
        rng = random.Random(seq)
        records = [
            make_record(FORM, synthesize(FORM, rng, fixed={"consent": "yes"})) for _ in range(n)
        ]
        data = seal_for(self.project, self.key, self.device, records, seq=seq, prev=prev)
        self.bundles.append(data)
        return data

    def received(self, data: bytes) -> uuid.UUID:
        """The upload of ``data``, announced and all of it received, not completed."""
        bid = read_header(io.BytesIO(data)).bundle_id
        sha, at = hashlib.sha256(data).digest(), ms(NOW)
        announced = self.project.store.write_sync(
            lambda tx: tx.uploads.announce(bid, self.device, len(data), sha, at)
        )
        assert announced
        self.area.append(bid, 0, data, len(data))
        return bid

    def persist(self, data: bytes, project: Project | None = None) -> int:
        bid = read_header(io.BytesIO(data)).bundle_id
        sha = hashlib.sha256(data).digest()
        return persist_upload(
            project or self.project, self.area, bid, self.device, len(data), sha, now=NOW
        )

    def ingest(self, bid: uuid.UUID, project: Project | None = None) -> IngestReport:
        return ingest_bundle(project or self.project, self.area, self.preparer, bid, now=NOW)

    def entries(self) -> list[AuditEntry]:
        rows = self.project.store.read_sync(lambda tx: tx.audit.latest(100_000))
        return [decode_entry(r.entry) for r in reversed(rows)]


@pytest.fixture
def env(project: Project) -> Env:
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    key, device = enroll_offline(project, now=NOW)
    return Env(project, project.blobs, Preparer.for_project(project), key, device)


def test_a_bundle_persisted_by_another_server_meanwhile_is_logged_once(env: Env) -> None:
    """Both servers find no bundle and move the upload into the blob store; the one
    whose transaction comes second finds the first one's bundle and answers its entry."""
    data = env.seal(2)
    bid = env.received(data)
    theirs: list[int] = []
    here = meanwhile(
        env.project, "persist_upload.<locals>.tx", lambda: theirs.append(env.persist(data))
    )
    ours = env.persist(data, here)
    assert here.store.ran and ours == theirs[0]  # type: ignore[attr-defined]
    uploads = [e for e in env.entries() if e.kind == "upload"]
    assert [e.subject for e in uploads] == [str(bid)]
    bundle = env.project.store.read_sync(lambda tx: tx.bundles.get(bid))
    assert bundle is not None and bundle.audit_index == ours


def test_a_bundle_ingested_by_another_server_meanwhile_is_merged_once(env: Env) -> None:
    """This server read the bundle stored and opened it; by the time it merges, the
    other server has accepted it: nothing is merged or logged again."""
    data = env.seal(3)
    bid = env.received(data)
    env.persist(data)
    theirs: list[IngestReport] = []
    here = meanwhile(
        env.project, "_merge_bundle.<locals>.tx", lambda: theirs.append(env.ingest(bid))
    )
    ours = env.ingest(bid, here)
    assert theirs[0].state is BundleState.ACCEPTED and theirs[0].accepted == 3
    assert (ours.state, ours.accepted, ours.duplicates, ours.pending) == (
        BundleState.ACCEPTED,
        0,
        0,
        [],
    )
    kinds = [e.kind for e in env.entries()]
    assert kinds.count("accept") == 3 + 1  # three records and the bundle, once
    bundle_accepts = [e for e in env.entries() if e.kind == "accept" and e.subject == str(bid)]
    assert len(bundle_accepts) == 1


def test_a_bundle_another_server_accepted_meanwhile_is_not_quarantined(env: Env) -> None:
    """This server fails to open the bundle (its worker died, say) while the other
    server accepts it: the failure quarantines nothing."""
    data = env.seal(2)
    bid = env.received(data)
    env.persist(data)

    class Dies:
        def prepare(self, *args: Any, **kwargs: Any) -> Prepared:
            raise MemoryError

    here = meanwhile(env.project, "_quarantine_bundle.<locals>.tx", lambda: env.ingest(bid))
    ours = ingest_bundle(here, env.area, Dies(), bid, now=NOW)
    assert (ours.state, ours.reasons) == (BundleState.ACCEPTED, [])
    assert env.project.store.read_sync(lambda tx: tx.quarantine.items()) == []
    assert [e.kind for e in env.entries()].count("quarantine") == 0


def _chain(env: Env) -> tuple[int, bytes | None]:
    dev = env.project.store.read_sync(lambda tx: tx.devices.get(env.device))
    assert dev is not None
    return dev.last_seq, dev.last_bundle


def _chain_gap(env: Env, bid: uuid.UUID) -> bool:
    [accept] = [e for e in env.entries() if e.kind == "accept" and e.subject == str(bid)]
    assert accept.detail is not None
    gap = accept.detail["chain_gap"]
    assert isinstance(gap, bool)
    return gap


def test_the_device_chain_is_read_in_the_merge_after_another_servers_merge(env: Env) -> None:
    """Bundle 2 is merged here while the other server merges bundle 1 just before: the
    merge reads the chain at 1 (not at 0, as before this server opened bundle 2), so
    bundle 2 follows it without a gap."""
    one, two = env.seal(1), env.seal(1)
    b1, b2 = env.received(one), env.received(two)
    env.persist(one)
    env.persist(two)
    here = meanwhile(env.project, "_merge_bundle.<locals>.tx", lambda: env.ingest(b1))
    assert env.ingest(b2, here).state is BundleState.ACCEPTED
    assert (_chain_gap(env, b1), _chain_gap(env, b2)) == (False, False)
    assert _chain(env) == (2, hashlib.sha256(two).digest())


def test_an_older_bundle_merged_after_a_newer_one_leaves_the_chain_at_the_newer(
    env: Env,
) -> None:
    """Bundle 1 is merged here while the other server merges bundle 2 just before:
    bundle 1 comes after the chain's head (a gap, as the log says), and the chain stays
    at 2."""
    one, two = env.seal(1), env.seal(1)
    b1, b2 = env.received(one), env.received(two)
    env.persist(one)
    env.persist(two)
    here = meanwhile(env.project, "_merge_bundle.<locals>.tx", lambda: env.ingest(b2))
    assert env.ingest(b1, here).state is BundleState.ACCEPTED
    assert (_chain_gap(env, b2), _chain_gap(env, b1)) == (True, True)
    assert _chain(env) == (2, hashlib.sha256(two).digest())


@pytest.mark.asyncio
async def test_a_receipt_signed_by_another_server_meanwhile_is_the_one_answered(
    env: Env,
) -> None:
    """Both servers persist, ingest and sign a receipt (at different times, so their
    receipts differ); the one whose receipt is kept second answers the first one's: a
    bundle has one receipt, whichever server a device asks."""
    data = env.seal(2)
    bid = env.received(data)
    sha = hashlib.sha256(data).digest()
    later = NOW + datetime.timedelta(seconds=5)
    other = Service(env.project)
    theirs: list[Receipt] = []

    def complete_there() -> None:
        theirs.append(
            asyncio.run(other.complete_upload(bid, env.device, len(data), sha, now=later))
        )

    here = Service(meanwhile(env.project, "Service._receipt.<locals>.tx", complete_there))
    try:
        ours = await here.complete_upload(bid, env.device, len(data), sha, now=NOW)
    finally:
        here.close()
        other.close()
    assert msgspec.msgpack.decode(theirs[0].body, type=ReceiptBody).received_at == later
    assert ours == theirs[0]
    bundle = env.project.store.read_sync(lambda tx: tx.bundles.get(bid))
    assert bundle is not None and bundle.receipt is not None
    assert msgspec.msgpack.decode(bundle.receipt, type=Receipt) == theirs[0]


def test_an_upload_completed_by_another_server_meanwhile_is_not_expired(env: Env) -> None:
    """expire_open_uploads found the upload open and untouched; before it deletes, the
    other server completes it: the upload, its bundle and its bytes stay."""
    data = env.seal(1)
    bid = env.received(data)
    # Past the cutoff, both for the announcement and for the last byte received.
    days = env.project.config.limits.open_upload_days
    later = max(NOW, datetime.datetime.now(datetime.UTC)) + datetime.timedelta(days=days + 1)
    here = Service(
        meanwhile(env.project, "Service.expire_open_uploads.<locals>.tx", lambda: env.persist(data))
    )
    here.close()
    assert here.expire_open_uploads(later) == 0
    assert here.project.store.ran  # type: ignore[attr-defined]  # it was about to delete
    upload = env.project.store.read_sync(lambda tx: tx.uploads.get(bid))
    assert upload is not None and upload.completed_ms is not None
    bundle = env.project.store.read_sync(lambda tx: tx.bundles.get(bid))
    assert bundle is not None
    with env.area.open(env.area.blob(bundle.sha256)) as f:
        assert f.read() == data
