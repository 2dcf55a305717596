"""One hostile or broken bundle cannot hurt the server (issue 11).

Each test here failed on the code before the fix it names: a revoked device's bundle was
decrypted before it was refused, one bundle that failed to ingest stopped the server (at
start-up too), an upload could be completed with another bundle's bytes (and learn that
the server held them), two appends at one offset both succeeded, and the upload area
followed links.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.bundles import make_record, seal_for
from support.project import NOW
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from syncserver.access import devices
from syncserver.audit.entries import decode_entry
from syncserver.errors import StoreError, Unprocessable, UploadConflict
from syncserver.forms import publish_form
from syncserver.ingest import ingest_bundle, persist_upload, recover
from syncserver.ingest._prepare import Prepared, Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project
from syncserver.records.review import release

FORM = shipped_form("escapee-interview")
ACTOR = "cli:tester"


class Kit:
    """An enrolled device of ``project`` that seals synthetic interviews."""

    def __init__(self, project: Project, now: datetime.datetime = NOW) -> None:
        self.project = project
        self.key, self.device_id = enroll_offline(project, now=now, actor=ACTOR)
        self.seq = 0

    def bundle(self, n: int = 1, seed: int = 0) -> bytes:
        import random

        self.seq += 1
        records = [
            make_record(FORM, synthesize(FORM, random.Random(seed + i), fixed={"consent": "yes"}))
            for i in range(n)
        ]
        return seal_for(self.project, self.key, self.device_id, records, seq=self.seq)


@pytest.fixture
def env(project: Project) -> tuple[Project, UploadArea, Preparer]:
    publish_form(project, FORM, now=NOW, actor=ACTOR)
    return project, UploadArea(project.config.root), Preparer.for_project(project)


def deliver(project: Project, area: UploadArea, kit: Kit, data: bytes) -> uuid.UUID:
    bid = read_header(io.BytesIO(data)).bundle_id
    area.append(bid, 0, data, len(data))
    persist_upload(
        project, area, bid, kit.device_id, len(data), hashlib.sha256(data).digest(), now=NOW
    )
    return bid


def rows(project: Project, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return project.store.read_sync(lambda c: c.execute(sql, args).fetchall())


class Counting:
    """A preparer that counts what it is asked to open."""

    def __init__(self, inner: Preparer) -> None:
        self.inner, self.calls = inner, 0

    def prepare(self, blob: Path, **kw: Any) -> Prepared:
        self.calls += 1
        return self.inner.prepare(blob, **kw)


# -- the device is checked before anything is opened -------------------------------------


def test_a_revoked_devices_bundle_is_refused_before_it_is_opened(env) -> None:  # type: ignore[no-untyped-def]
    project, area, preparer = env
    kit = Kit(project)
    bid = deliver(project, area, kit, kit.bundle())
    devices.revoke(
        project, kit.device_id, "lost", now=NOW - datetime.timedelta(hours=1), actor=ACTOR
    )
    counting = Counting(preparer)
    report = ingest_bundle(project, area, counting, bid, now=NOW)
    assert (report.state, report.reasons) == ("quarantined", ["the sealing device is revoked"])
    assert counting.calls == 0  # nothing decrypted, nothing decoded
    assert rows(project, "SELECT COUNT(*) FROM records") == [(0,)]


def test_an_expired_devices_bundle_is_refused_before_it_is_opened(env) -> None:  # type: ignore[no-untyped-def]
    project, area, preparer = env
    days = project.config.devices.certificate_days
    kit = Kit(project, now=NOW - datetime.timedelta(days=days + 1))
    bid = deliver(project, area, kit, kit.bundle())
    counting = Counting(preparer)
    report = ingest_bundle(project, area, counting, bid, now=NOW)
    assert report.reasons == ["the sealing device's certificate had expired"]
    assert counting.calls == 0


def test_a_bundle_sealed_by_another_device_is_refused(env) -> None:  # type: ignore[no-untyped-def]
    # Kit A's bundle, uploaded by kit B: a revoked A could otherwise pass its bundles on.
    project, area, preparer = env
    a, b = Kit(project), Kit(project)
    bid = deliver(project, area, b, a.bundle())
    report = ingest_bundle(project, area, preparer, bid, now=NOW)
    assert report.reasons == [
        f"the bundle was sealed by device {a.device_id}, not by the device that uploaded it"
        f" ({b.device_id})"
    ]
    assert rows(project, "SELECT COUNT(*) FROM records") == [(0,)]


def test_a_bundle_for_another_project_is_refused_from_its_header(env) -> None:  # type: ignore[no-untyped-def]
    from schemas.bundle import DeviceKey, seal_bundle

    project, area, preparer = env
    kit = Kit(project)
    buf = io.BytesIO()
    seal_bundle(  # sealed to this project's key, but naming another project
        buf,
        records=[make_record(FORM, {"consent": "no"})],
        device=DeviceKey(kit.device_id, kit.key),
        recipients=[project.identity.recipient_public],
        project_id=uuid.uuid4(),
        device_seq=1,
        prev_bundle_sha256=bytes(32),
    )
    bid = deliver(project, area, kit, buf.getvalue())
    report = ingest_bundle(project, area, preparer, bid, now=NOW)
    assert report.reasons == ["bundle could not be opened: bundle is for another project"]


# -- one bundle never stops the server ---------------------------------------------------


class Exploding:
    """A preparer that fails on one blob with an unexpected error whose message quotes
    what it was reading (as a bug might)."""

    def __init__(self, inner: Preparer, bad: Path) -> None:
        self.inner, self.bad = inner, bad

    def prepare(self, blob: Path, **kw: Any) -> Prepared:
        if blob == self.bad:
            raise KeyError("Quokka-Zanzibar-7731")
        return self.inner.prepare(blob, **kw)


def test_an_error_with_one_bundle_quarantines_it_and_the_rest_go_on(env, caplog) -> None:  # type: ignore[no-untyped-def]
    project, area, preparer = env
    kit = Kit(project)
    first, second = kit.bundle(seed=1), kit.bundle(seed=2)
    b1, b2 = deliver(project, area, kit, first), deliver(project, area, kit, second)
    exploding = Exploding(preparer, area.blob(hashlib.sha256(first).digest()))
    r1 = ingest_bundle(project, area, exploding, b1, now=NOW)
    r2 = ingest_bundle(project, area, exploding, b2, now=NOW)
    assert r1.state == "quarantined"
    assert r1.reasons[0].startswith("internal error while opening the bundle (KeyError at ")
    assert "Quokka" not in r1.reasons[0] and "Quokka" not in caplog.text
    assert r2.state == "accepted" and r2.accepted == 1


def test_an_error_while_merging_quarantines_the_bundle(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import syncserver.ingest.pipeline as ingest

    project, area, preparer = env
    kit = Kit(project)
    bid = deliver(project, area, kit, kit.bundle())

    def broken(*_a: Any, **_k: Any) -> Any:
        raise TypeError("a bug")

    monkeypatch.setattr(ingest, "_merge", broken)
    report = ingest_bundle(project, area, preparer, bid, now=NOW)
    assert report.state == "quarantined" and report.accepted == 0
    assert report.reasons[0].startswith("internal error while merging the bundle (TypeError")
    assert rows(project, "SELECT state FROM bundles") == [("quarantined",)]
    assert rows(project, "SELECT COUNT(*) FROM records") == [(0,)]


def test_a_missing_blob_is_quarantined_at_start_up_and_on_release(env) -> None:  # type: ignore[no-untyped-def]
    project, area, preparer = env
    kit = Kit(project)
    data = kit.bundle()
    bid = deliver(project, area, kit, data)
    other = deliver(project, area, kit, kit.bundle(seed=5))
    blob = area.blob(hashlib.sha256(data).digest())
    blob.rename(blob.with_suffix(".moved"))
    reports = recover(project, area, preparer, now=NOW)  # used to raise FileNotFoundError
    by_id = {r.bundle_id: r for r in reports}
    assert by_id[bid].reasons == [f"the stored bundle is missing ({blob.name} in blobs/)"]
    assert by_id[other].state == "accepted"
    (item,) = rows(project, "SELECT id FROM quarantine WHERE bundle_id = ?", bid.bytes)
    again = release(project, area, preparer, item[0], now=NOW, actor=ACTOR)
    assert again.state == "quarantined"
    blob.with_suffix(".moved").rename(blob)  # found again: released, it goes through
    (item,) = rows(
        project, "SELECT id FROM quarantine WHERE bundle_id = ? AND released_ms IS NULL", bid.bytes
    )
    assert release(project, area, preparer, item[0], now=NOW, actor=ACTOR).state == "accepted"


def test_a_blob_that_is_a_link_is_not_followed(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project, area, preparer = env
    kit = Kit(project)
    data = kit.bundle()
    bid = deliver(project, area, kit, data)
    blob = area.blob(hashlib.sha256(data).digest())
    elsewhere = tmp_path / "elsewhere"
    blob.rename(elsewhere)
    blob.symlink_to(elsewhere)
    report = ingest_bundle(project, area, preparer, bid, now=NOW)
    assert report.reasons == ["the stored bundle cannot be read (it is a link)"]


# -- a worker that dies ------------------------------------------------------------------


def _children() -> set[int]:
    me, out = os.getpid(), set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.add(int(d.name))
    return out


def _blocked_in_open(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in ("wait_for_partner", "fifo_open")
    except OSError:
        return False


def test_a_bundle_that_kills_its_worker_is_quarantined_and_the_others_go_on(env) -> None:  # type: ignore[no-untyped-def]
    """The worker opening one bundle dies (here: killed while it waits on a blob that is
    a FIFO). Its pool breaks, and with it the bundle queued behind: that one is opened
    again alone and goes through; the one whose worker dies again when it is opened
    alone is quarantined."""
    import time

    from syncserver.ingest._prepare import PreparerPool, _args

    project, area, _preparer = env
    kit = Kit(project)
    good, bad = kit.bundle(seed=1), kit.bundle(seed=2)
    g = deliver(project, area, kit, good)
    b = deliver(project, area, kit, bad)
    fifo = area.blob(hashlib.sha256(bad).digest())
    fifo.unlink()
    os.mkfifo(fifo)
    pool = PreparerPool(Preparer.for_project(project), _args(project), 1)
    before = _children()
    results: dict[str, Any] = {}

    def run(name: str, bid: uuid.UUID) -> None:
        results[name] = ingest_bundle(project, area, pool, bid, now=NOW)

    threads = [threading.Thread(target=run, args=("bad", b))]
    threads[0].start()
    killed: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(killed) < 2 and time.monotonic() < deadline:
            for pid in _children() - before - killed:
                if not _blocked_in_open(pid):
                    continue
                if not killed:  # the pool's worker: queue the good bundle behind it first
                    threads.append(threading.Thread(target=run, args=("good", g)))
                    threads[1].start()
                    while len(pool._executor()._pending_work_items) < 2:  # type: ignore[attr-defined]
                        time.sleep(0.01)
                os.kill(pid, 9)
                killed.add(pid)
            time.sleep(0.02)
        for t in threads:
            t.join(120)
    finally:
        pool.close()
    assert len(killed) == 2  # the pool's worker, then the process it was tried alone in
    assert results["bad"].reasons == [
        "the ingest worker died while opening this bundle (out of memory, or a crash)"
    ]
    assert results["good"].state == "accepted"


# -- no receipt without bytes ------------------------------------------------------------


def test_an_upload_must_deliver_its_own_bytes(env) -> None:  # type: ignore[no-untyped-def]
    """Another device's bundle is stored under SHA-256 X. An upload announcing X under
    another bundle id is told offset 0 (nothing held for it: no oracle), and completing
    it without bytes is refused: no `upload` entry, no receipt."""
    project, area, _preparer = env
    a, b = Kit(project), Kit(project)
    data = a.bundle()
    deliver(project, area, a, data)
    sha = hashlib.sha256(data).digest()
    theirs = uuid.uuid4()
    assert area.held(theirs, len(data), sha) == 0
    uploads_before = rows(project, "SELECT COUNT(*) FROM audit")
    with pytest.raises(Unprocessable, match=f"received 0 of {len(data)} bytes"):
        persist_upload(project, area, theirs, b.device_id, len(data), sha, now=NOW)
    assert rows(project, "SELECT COUNT(*) FROM audit") == uploads_before
    assert rows(project, "SELECT COUNT(*) FROM bundles WHERE bundle_id = ?", theirs.bytes) == [(0,)]


def test_a_complete_that_moved_its_own_bytes_is_finished_after_a_crash(env) -> None:  # type: ignore[no-untyped-def]
    project, area, _preparer = env
    kit = Kit(project)
    data = kit.bundle()
    bid = read_header(io.BytesIO(data)).bundle_id
    sha = hashlib.sha256(data).digest()
    area.append(bid, 0, data, len(data))
    area.finish(bid, len(data), sha)  # moved into the blob store; then the crash
    assert area.held(bid, len(data), sha) == len(data)
    idx = persist_upload(project, area, bid, kit.device_id, len(data), sha, now=NOW)
    entry = decode_entry(rows(project, "SELECT entry FROM audit WHERE idx = ?", idx)[0][0])
    assert (entry.kind, entry.subject) == ("upload", str(bid))


# -- appends to one upload run one at a time ---------------------------------------------


def test_two_appends_at_one_offset_one_wins(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The first append is held just before it writes (its offset already checked);
    the second, at the same offset, must not write meanwhile: it waits for the first,
    then finds the offset moved (409)."""
    area = UploadArea(tmp_path)
    bid = uuid.uuid4()
    first, second = b"A" * 1000, b"B" * 1000
    inside, go_on = threading.Event(), threading.Event()
    real_write = os.write

    def held_write(fd: int, data: Any) -> int:
        if threading.current_thread().name == "first-append" and not inside.is_set():
            inside.set()
            assert go_on.wait(60)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", held_write)
    out: dict[str, Any] = {}

    def append(name: str, data: bytes) -> None:
        try:
            out[name] = area.append(bid, 0, data, 2000)
        except UploadConflict as e:
            out[name] = e

    t1 = threading.Thread(target=append, args=("first", first), name="first-append")
    t1.start()
    assert inside.wait(60)
    t2 = threading.Thread(target=append, args=("second", second))
    t2.start()
    t2.join(1.0)  # unserialized, the second append writes here, and both succeed
    go_on.set()
    t1.join(60)
    t2.join(60)
    assert out["first"] == 1000
    assert isinstance(out["second"], UploadConflict)
    assert out["second"].headers == {"Upload-Offset": "1000"}
    assert area.part(bid).read_bytes() == first


# -- the upload area never follows a link ------------------------------------------------


def test_a_part_file_that_is_a_link_is_refused(tmp_path) -> None:
    area = UploadArea(tmp_path)
    bid = uuid.uuid4()
    target = tmp_path / "outside"
    target.write_bytes(b"not yours")
    area.part(bid).symlink_to(target)
    with pytest.raises(StoreError, match="not a regular file"):
        area.append(bid, 0, b"x" * 10, 10)
    with pytest.raises(StoreError, match="not a regular file"):
        area.offset(bid)
    with pytest.raises(StoreError, match="not a regular file"):
        area.finish(bid, 9, hashlib.sha256(b"not yours").digest())
    assert target.read_bytes() == b"not yours"


def test_an_upload_area_that_is_a_link_is_refused(tmp_path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "proj" / "uploads").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="uploads/"):
        UploadArea(tmp_path / "proj")
