"""The blob store (syncserver.store.blobs) on both implementations: a directory (what a
SQLite project uses) and PostgreSQL (chunked rows). The same guarantees hold for both
(docs/spec/api-v1.md §4): appends durable and all or nothing, one at a time per upload,
completion checks the upload's own bytes and never counts another bundle's blob, reading
streams in bounded memory. "Two servers" are two blob stores on one directory or one
PostgreSQL schema. The local store's refusal of links is tested in
tests/syncserver/test_ingest_hardening.py."""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import threading
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.postgres import fresh_schema

from schemas.bundle import DeviceKey, RecipientKey, seal_bundle
from schemas.ids import new_id
from schemas.wire import Record
from syncserver.errors import NotFound, StorageFull, StoreError, Unprocessable, UploadConflict
from syncserver.store import open_store
from syncserver.store.blobs import Blobs, BlobUnreadable, LocalBlobs, open_blobs

MiB = 1024 * 1024
DEVICE = uuid.UUID("01900000-0000-7000-8000-000000000001")
MADE = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


def bundle(padding: int = 0) -> tuple[uuid.UUID, bytes]:
    """A sealed synthetic bundle (its header names its id), followed by ``padding`` bytes
    of noise: what the blob store keeps is opaque to it past the header."""
    record = Record(
        record_id=new_id(),
        version=1,
        form_id="synthetic",
        form_version=1,
        created_at=MADE,
        modified_at=MADE,
        lang="en",
        answers={"consent": "yes"},
    )
    buf = io.BytesIO()
    sealed = seal_bundle(
        buf,
        records=[record],
        device=DeviceKey(DEVICE, Ed25519PrivateKey.generate()),
        recipients=[RecipientKey.generate().public()],
        project_id=uuid.UUID(int=7),
        device_seq=1,
    )
    return sealed.bundle_id, buf.getvalue() + os.urandom(padding)


@dataclass
class Place:
    """Where blobs are kept, and how the tests play the store's part there: a PostgreSQL
    blob store locks the upload's row, so an upload must be announced first."""

    kind: str
    open: Callable[[], Blobs]  # another blob store on the same place ("another server")
    announce: Callable[[uuid.UUID, int, bytes], None]
    complete: Callable[[uuid.UUID], None]
    sql: Callable[[str], None]


@pytest.fixture(params=["local", "postgres"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "local":
        yield Place(
            "local",
            lambda: open_blobs("sqlite:store.db", tmp_path),
            lambda *_: None,
            lambda _: None,
            lambda _: pytest.fail("no SQL here"),
        )
        return
    with postgres(tmp_path) as p:
        yield p


@contextmanager
def postgres(tmp_path: Path) -> Iterator[Place]:
    """A fresh PostgreSQL schema, migrated by the store, with one enrolled device."""
    import psycopg

    with fresh_schema() as url:
        open_store(url, tmp_path).close()

        def sql(statement: str, *args: Any) -> None:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute(statement, args)  # type: ignore[arg-type]

        sql(
            "INSERT INTO devices (device_id, serial, label, public_key, certificate,"
            " not_before_ms, not_after_ms, enrolled_ms, enrolled_how)"
            " VALUES (%s, 1, 'kit', %s, %s, 0, 1, 0, 'file')",
            DEVICE.bytes,
            b"k" * 32,
            b"cert",
        )
        yield Place(
            "postgres",
            lambda: open_blobs(url, tmp_path),
            lambda b, size, sha: sql(
                "INSERT INTO uploads (bundle_id, device_id, size, sha256, created_ms)"
                " VALUES (%s, %s, %s, %s, 0)",
                b.bytes,
                DEVICE.bytes,
                size,
                sha,
            ),
            lambda b: sql("UPDATE uploads SET completed_ms = 1 WHERE bundle_id = %s", b.bytes),
            sql,
        )


@pytest.fixture
def blobs(place: Place) -> Iterator[Blobs]:
    b = place.open()
    try:
        yield b
    finally:
        b.close()


def announced(place: Place, padding: int = 0) -> tuple[uuid.UUID, bytes, bytes]:
    bid, data = bundle(padding)
    sha = hashlib.sha256(data).digest()
    place.announce(bid, len(data), sha)
    return bid, data, sha


def read_all(b: Blobs, sha: bytes) -> bytes:
    with b.open(b.blob(sha)) as f:
        return f.read()


# -- appends -------------------------------------------------------------------------------


def test_appends_resume_at_the_offset_and_refuse_any_other(place: Place, blobs: Blobs) -> None:
    bid, data, _sha = announced(place, padding=3 * MiB)  # several chunks in one append
    assert blobs.offset(bid) == 0 and blobs.touched_ms(bid) is None
    cut = len(data) - 1000
    assert blobs.append(bid, 0, data[:cut], len(data)) == cut
    assert blobs.offset(bid) == cut
    with pytest.raises(UploadConflict) as e:
        blobs.append(bid, 10, b"x", len(data))
    assert e.value.headers == {"Upload-Offset": str(cut)}
    with pytest.raises(Unprocessable, match="more bytes than the announced size"):
        blobs.append(bid, cut, data[cut:] + b"!", len(data))
    assert blobs.offset(bid) == cut  # neither refusal wrote anything
    assert blobs.append(bid, cut, data[cut:], len(data)) == len(data)
    assert blobs.offset(bid) == len(data)


def test_an_append_says_when_it_arrived_and_a_discarded_part_is_gone(
    place: Place, blobs: Blobs
) -> None:
    bid, data, _sha = announced(place)
    before = datetime.datetime.now(datetime.UTC).timestamp() * 1000
    blobs.append(bid, 0, data[:100], len(data))
    after = datetime.datetime.now(datetime.UTC).timestamp() * 1000
    touched = blobs.touched_ms(bid)
    assert touched is not None and before - 1000 <= touched <= after + 1000
    blobs.discard(bid)
    assert (blobs.offset(bid), blobs.touched_ms(bid)) == (0, None)
    blobs.discard(bid)  # nothing left: nothing to do


def test_two_appends_at_one_offset_on_two_servers_one_wins(place: Place) -> None:
    """Two servers, one upload, both appending at offset 0 at once: one is written, the
    other finds the offset moved (409) whatever the interleaving."""
    bid, data, _sha = announced(place, padding=4000)
    one, two = place.open(), place.open()
    ready = threading.Barrier(2)
    out: dict[str, Any] = {}

    def append(name: str, b: Blobs, piece: bytes) -> None:
        ready.wait(30)
        try:
            out[name] = b.append(bid, 0, piece, len(data))
        except UploadConflict as e:
            out[name] = e

    pieces = {"one": b"A" * 1000, "two": b"B" * 1000}
    threads = [
        threading.Thread(target=append, args=("one", one, pieces["one"])),
        threading.Thread(target=append, args=("two", two, pieces["two"])),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        won = [n for n, v in out.items() if v == 1000]
        lost = [n for n, v in out.items() if isinstance(v, UploadConflict)]
        assert len(won) == 1 and len(lost) == 1
        assert out[lost[0]].headers == {"Upload-Offset": "1000"}
        assert one.offset(bid) == 1000  # the part is the winner's bytes, whole
        assert _part_bytes(one, bid) == pieces[won[0]]
    finally:
        one.close()
        two.close()


def _part_bytes(b: Blobs, bundle_id: uuid.UUID) -> bytes:
    if isinstance(b, LocalBlobs):
        return b.part(bundle_id).read_bytes()
    import psycopg

    url = b.url  # type: ignore[attr-defined]
    with psycopg.connect(url) as c:
        rows = c.execute(
            "SELECT data FROM part_chunks WHERE bundle_id = %s ORDER BY n", (bundle_id.bytes,)
        ).fetchall()
    return b"".join(bytes(r[0]) for r in rows)


def test_a_device_resumes_on_another_server_at_the_right_offset(place: Place) -> None:
    """Server A takes the first part; the device comes back through server B, which
    tells it the offset A acknowledged, takes the rest, and A completes it: what either
    server reads back is the bundle."""
    bid, data, sha = announced(place, padding=2 * MiB)
    a, b = place.open(), place.open()
    try:
        cut = len(data) // 3
        assert a.append(bid, 0, data[:cut], len(data)) == cut
        assert b.held(bid, len(data), sha) == cut
        with pytest.raises(UploadConflict):
            b.append(bid, 0, data[:cut], len(data))  # a resend of what A took: refused
        assert b.append(bid, cut, data[cut:], len(data)) == len(data)
        a.finish(bid, len(data), sha)
        assert b.holds(bid, len(data), sha) and b.held(bid, len(data), sha) == len(data)
        assert read_all(b, sha) == data and read_all(a, sha) == data
    finally:
        a.close()
        b.close()


# -- completion ----------------------------------------------------------------------------


def test_finish_makes_the_checked_bytes_the_blob(place: Place, blobs: Blobs) -> None:
    bid, data, sha = announced(place, padding=MiB)
    blobs.append(bid, 0, data, len(data))
    assert not blobs.holds(bid, len(data), sha)
    blobs.finish(bid, len(data), sha)
    assert blobs.holds(bid, len(data), sha)
    assert blobs.held(bid, len(data), sha) == len(data)
    assert blobs.offset(bid) == 0  # the part became the blob
    assert read_all(blobs, sha) == data
    blobs.finish(bid, len(data), sha)  # again (a complete that did not finish): done
    assert read_all(blobs, sha) == data


def test_finish_refuses_bytes_that_are_not_the_announced_ones(place: Place, blobs: Blobs) -> None:
    bid, data, sha = announced(place)
    with pytest.raises(Unprocessable, match=f"received 0 of {len(data)} bytes"):
        blobs.finish(bid, len(data), sha)
    blobs.append(bid, 0, data[:-1], len(data))
    with pytest.raises(Unprocessable, match=f"received {len(data) - 1} of {len(data)} bytes"):
        blobs.finish(bid, len(data), sha)
    assert blobs.offset(bid) == len(data) - 1  # kept: the device resumes
    blobs.append(bid, len(data) - 1, b"\x00" if data[-1] else b"\x01", len(data))
    with pytest.raises(Unprocessable, match="do not match the announced SHA-256"):
        blobs.finish(bid, len(data), sha)
    assert blobs.offset(bid) == 0  # discarded: upload again from 0
    with pytest.raises(BlobUnreadable, match="the stored bundle is missing"):
        blobs.open(blobs.blob(sha))


def test_an_upload_never_counts_another_bundles_blob(place: Place, blobs: Blobs) -> None:
    """A bundle is stored under SHA-256 X. An upload announcing X under another bundle id
    is told offset 0 (no oracle of what the server holds), and cannot be completed
    without delivering bytes."""
    bid, data, sha = announced(place)
    blobs.append(bid, 0, data, len(data))
    blobs.finish(bid, len(data), sha)
    theirs = uuid.uuid4()
    place.announce(theirs, len(data), sha)
    assert not blobs.holds(theirs, len(data), sha)
    assert blobs.held(theirs, len(data), sha) == 0
    with pytest.raises(Unprocessable, match=f"received 0 of {len(data)} bytes"):
        blobs.finish(theirs, len(data), sha)
    assert not blobs.holds(bid, len(data) + 1, sha)  # the size counts too


def test_two_servers_completing_one_upload_at_once_both_succeed(place: Place) -> None:
    """A device retries `complete` on another server while the first is still at it:
    one moves the bytes, the other finds them done; the blob is stored once."""
    bid, data, sha = announced(place, padding=MiB)
    one, two = place.open(), place.open()
    one.append(bid, 0, data, len(data))
    ready = threading.Barrier(2)
    errors: list[BaseException] = []

    def finish(b: Blobs) -> None:
        ready.wait(30)
        try:
            b.finish(bid, len(data), sha)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=finish, args=(b,)) for b in (one, two)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert read_all(two, sha) == data and one.offset(bid) == 0
    finally:
        one.close()
        two.close()


# -- reading -------------------------------------------------------------------------------


def test_a_stored_bundle_is_read_in_bounded_memory(place: Place, blobs: Blobs) -> None:
    bid, data, sha = announced(place, padding=24 * MiB)
    for start in range(0, len(data), 8 * MiB):
        blobs.append(bid, start, data[start : start + 8 * MiB], len(data))
    blobs.finish(bid, len(data), sha)
    h = hashlib.sha256()
    tracemalloc.start()
    try:
        with blobs.open(blobs.blob(sha)) as f:
            while piece := f.read(64 * 1024):
                h.update(piece)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert h.digest() == sha
    assert peak < 4 * MiB  # a chunk and a buffer, not the 24 MiB bundle


def test_a_missing_blob_is_unreadable_not_a_store_failure(blobs: Blobs) -> None:
    sha = hashlib.sha256(b"never stored").digest()
    with pytest.raises(BlobUnreadable, match="the stored bundle is missing") as e:
        blobs.open(blobs.blob(sha))
    assert not isinstance(e.value, StoreError)
    assert not blobs.holds(uuid.uuid4(), 10, sha)


# -- choosing and opening ----------------------------------------------------------------


def test_the_store_url_chooses_the_blob_store(tmp_path: Path) -> None:
    local = open_blobs("sqlite:store.db", tmp_path)
    assert isinstance(local, LocalBlobs)
    assert {p.name for p in tmp_path.iterdir()} == {"blobs", "uploads"}
    pg = open_blobs("postgresql://sealsync@db.invalid:5432/project", tmp_path / "x")
    assert repr(pg) == "PgBlobs(project on db.invalid:5432)"
    assert not (tmp_path / "x").exists()  # nothing on disk, no connection until used
    pg.close()
    pg.close()


def test_a_read_only_local_store_makes_nothing(tmp_path: Path) -> None:
    ro = open_blobs("sqlite:store.db", tmp_path, readonly=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BlobUnreadable, match="missing"):
        ro.open(ro.blob(bytes(32)))


# -- PostgreSQL: the row lock and the transaction ------------------------------------------


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Place]:
    with postgres(tmp_path) as p:
        yield p


@pytest.fixture
def pg_blobs(pg: Place) -> Iterator[Blobs]:
    b = pg.open()
    try:
        yield b
    finally:
        b.close()


@pytest.mark.postgres
def test_an_append_that_fails_leaves_nothing(pg: Place, pg_blobs: Blobs) -> None:
    """The database fills up while the second chunk of an append is written: the append
    is StorageFull and rolled back whole, so the offset is what was acknowledged."""
    bid, data, _sha = announced(pg, padding=3 * MiB)
    pg_blobs.append(bid, 0, data[:1000], len(data))
    pg.sql(
        "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.n = 2 THEN RAISE EXCEPTION 'no space' USING ERRCODE = 'disk_full'; END IF;"
        " RETURN NEW; END $$"
    )
    pg.sql(
        "CREATE TRIGGER full_disk BEFORE INSERT ON part_chunks"
        " FOR EACH ROW EXECUTE FUNCTION full_disk()"
    )
    with pytest.raises(StorageFull):
        pg_blobs.append(bid, 1000, data[1000:], len(data))
    assert pg_blobs.offset(bid) == 1000
    pg.sql("DROP TRIGGER full_disk ON part_chunks")
    assert pg_blobs.append(bid, 1000, data[1000:], len(data)) == len(data)


@pytest.mark.postgres
def test_an_upload_must_be_announced_and_open(pg: Place, pg_blobs: Blobs) -> None:
    """The row lock needs the upload's row: an upload forgotten (expired) meanwhile is
    not found; a completed one takes no more bytes, and finishing it again is done."""
    bid, data, sha = bundle()[0], b"x" * 10, hashlib.sha256(b"x" * 10).digest()
    with pytest.raises(NotFound):
        pg_blobs.append(bid, 0, data, len(data))
    with pytest.raises(NotFound):
        pg_blobs.finish(bid, len(data), sha)
    bid, data, sha = announced(pg)
    pg_blobs.append(bid, 0, data, len(data))
    pg_blobs.finish(bid, len(data), sha)
    pg.complete(bid)
    with pytest.raises(UploadConflict, match="already complete") as e:
        pg_blobs.append(bid, 0, data, len(data))
    assert e.value.headers == {"Upload-Offset": str(len(data))}
    pg_blobs.finish(bid, len(data), sha)


@pytest.mark.postgres
def test_a_read_only_postgres_store_writes_nothing(pg: Place, tmp_path: Path) -> None:
    bid, data, sha = announced(pg)
    writer = pg.open()
    url = writer.url  # type: ignore[attr-defined]
    ro = open_blobs(url, tmp_path, readonly=True)
    try:
        writer.append(bid, 0, data, len(data))
        writer.finish(bid, len(data), sha)
        assert read_all(ro, sha) == data
        with pytest.raises(StoreError, match="read-only"):
            ro.append(bid, 0, data, len(data))
        with pytest.raises(StoreError, match="read-only"):
            ro.discard(bid)
    finally:
        ro.close()
        writer.close()
