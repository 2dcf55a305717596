"""The access repositories (tx.devices, tx.enroll_tokens, tx.admin_tokens): what each
method answers and changes, on a bare store (synthetic rows, no project), on every
backend; then what must hold when two servers share one PostgreSQL database and do the
same thing at once (two stores on one schema, threads meeting at a barrier inside their
transactions)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from support.postgres import fresh_schema

from syncserver.errors import StoreError
from syncserver.store import (
    AdminToken,
    Device,
    EnrollHow,
    EnrollToken,
    Role,
    SqliteStore,
    Store,
    Tx,
    open_store,
)

T = TypeVar("T")
T0 = 1_700_000_000_000
#: A synthetic MAC key for the audit log (tests only), as the conftest's.
AUDIT_KEY = bytes(range(32))
#: How long a thread of a race waits for the other before the test fails (never reached
#: when the code is right: the outcome is asserted, never a timing).
PATIENCE = 20


def _device(serial: int, *, key: bytes | None = None, how: EnrollHow = EnrollHow.FILE) -> Device:
    return Device(
        device_id=uuid.UUID(int=serial),
        serial=serial,
        label=f"kit {serial}",
        public_key=key or bytes([serial]) * 32,
        certificate=b"cert-%d" % serial,
        not_before_ms=T0 - 300_000,
        not_after_ms=T0 + 86_400_000,
        enrolled_ms=T0,
        enrolled_how=how,
    )


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _enroll(store: Store, *, key: bytes | None = None) -> Device:
    """Allocate the next serial and add a device with it, in one transaction."""

    def tx(tx: Tx) -> Device:
        d = _device(tx.devices.next_serial(), key=key)
        assert tx.devices.add(d)
        return d

    return store.write_sync(tx)


def _sqlite(store: Store) -> bool:
    return isinstance(store, SqliteStore)


# -- devices ---------------------------------------------------------------------------


def test_a_device_round_trips_with_the_defaults_of_a_new_one(store: Store) -> None:
    d = _enroll(store)
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got == d
    assert got is not None
    assert (got.serial, got.last_seq, got.last_bundle, got.revoked_ms) == (1, 0, None, None)
    assert type(got.enrolled_how) is EnrollHow and got.enrolled_how == "file"
    assert isinstance(got.device_id, uuid.UUID)
    assert type(got.public_key) is bytes and type(got.certificate) is bytes
    assert store.read_sync(lambda tx: tx.devices.get(uuid.UUID(int=99))) is None


def test_serials_are_allocated_one_after_another(store: Store) -> None:
    first, second = _enroll(store), _enroll(store)
    assert (first.serial, second.serial) == (1, 2)
    assert [d.serial for d in store.read_sync(lambda tx: tx.devices.all())] == [1, 2]


def test_a_serial_is_read_in_a_read_on_sqlite_and_only_allocated_in_a_write_on_postgres(
    store: Store,
) -> None:
    """SQLite answers MAX + 1, which a read may ask; PostgreSQL takes the next value of a
    sequence, which only a write may."""
    if _sqlite(store):
        assert store.read_sync(lambda tx: tx.devices.next_serial()) == 1
    else:
        with pytest.raises(StoreError):
            store.read_sync(lambda tx: tx.devices.next_serial())
    assert _enroll(store).serial == 1


def test_a_rolled_back_enrollment_leaves_no_device(store: Store) -> None:
    """Nothing of a failed enrollment stays. SQLite allocates MAX + 1 inside the
    transaction, so its serial is given again; PostgreSQL's sequence leaves a gap (the
    interface allows either)."""

    def fails(tx: Tx) -> None:
        tx.devices.add(_device(tx.devices.next_serial()))
        raise RuntimeError("after the insert")

    with pytest.raises(RuntimeError):
        store.write_sync(fails)
    assert store.read_sync(lambda tx: tx.devices.all()) == []
    assert _enroll(store).serial == (1 if _sqlite(store) else 2)


@pytest.mark.postgres
def test_serials_copied_in_must_move_the_sequence_past_them() -> None:
    """A device added with a serial of its own (a SQLite store copied in) leaves the
    sequence behind: the next enrollment is refused (nothing enrolled twice) until the
    copy moves it on, as PgDevices.next_serial says."""
    import psycopg

    with fresh_schema() as url:
        s = open_store(url, Path("."), audit_key=AUDIT_KEY)
        try:
            copied = msgspec.structs.replace(
                _device(1), device_id=uuid.UUID(int=1001), public_key=b"c" * 32
            )
            assert s.write_sync(lambda tx: tx.devices.add(copied))
            with pytest.raises(StoreError):
                _enroll(s)
            with psycopg.connect(url, autocommit=True) as pg:
                pg.execute("SELECT setval('device_serials', (SELECT MAX(serial) FROM devices))")
            assert _enroll(s).serial == 2
        finally:
            s.close()


def test_a_device_is_found_by_its_key(store: Store) -> None:
    d = _enroll(store, key=b"k" * 32)
    assert store.read_sync(lambda tx: tx.devices.by_key(b"k" * 32)) == d
    assert store.read_sync(lambda tx: tx.devices.by_key(b"x" * 32)) is None


def test_a_key_is_enrolled_once(store: Store) -> None:
    d = _enroll(store, key=b"k" * 32)
    again = _device(2, key=b"k" * 32)
    assert store.write_sync(lambda tx: tx.devices.add(again)) is False
    assert store.read_sync(lambda tx: tx.devices.all()) == [d]


def test_a_device_read_locked_is_the_device(store: Store) -> None:
    d = _enroll(store)
    assert store.write_sync(lambda tx: tx.devices.get_locked(d.device_id)) == d
    assert store.write_sync(lambda tx: tx.devices.get_locked(uuid.UUID(int=99))) is None


def test_revoking_changes_a_live_device_once(store: Store) -> None:
    d = _enroll(store)
    assert store.write_sync(lambda tx: tx.devices.revoke(d.device_id, T0 + 5, "lost")) is True
    assert store.write_sync(lambda tx: tx.devices.revoke(d.device_id, T0 + 9, "again")) is False
    assert store.write_sync(lambda tx: tx.devices.revoke(uuid.UUID(int=7), T0, "x")) is False
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got is not None and (got.revoked_ms, got.revoke_reason) == (T0 + 5, "lost")


def test_the_bundle_chain_advances(store: Store) -> None:
    d, other = _enroll(store), _enroll(store)
    assert store.write_sync(lambda tx: tx.devices.advance_chain(d.device_id, 3, b"\x01" * 32))
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got is not None and (got.last_seq, got.last_bundle) == (3, b"\x01" * 32)
    assert type(got.last_bundle) is bytes
    assert store.read_sync(lambda tx: tx.devices.get(other.device_id)) == other


def test_the_bundle_chain_never_moves_back(store: Store) -> None:
    d = _enroll(store)
    assert store.write_sync(lambda tx: tx.devices.advance_chain(d.device_id, 5, b"\x05" * 32))
    for seq in (5, 4):
        assert not store.write_sync(
            lambda tx, seq=seq: tx.devices.advance_chain(d.device_id, seq, b"\x04" * 32)
        )
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got is not None and (got.last_seq, got.last_bundle) == (5, b"\x05" * 32)


# -- enrollment tokens -----------------------------------------------------------------


def test_an_enrollment_token_is_used_once(store: Store) -> None:
    t = EnrollToken(token_hash=_h("a"), label="field kit", created_ms=T0, expires_ms=T0 + 1000)
    store.write_sync(lambda tx: tx.enroll_tokens.add(t))
    assert store.read_sync(lambda tx: tx.enroll_tokens.get(_h("a"))) == t
    assert store.read_sync(lambda tx: tx.enroll_tokens.get(_h("b"))) is None
    d = _enroll(store)
    assert store.write_sync(lambda tx: tx.enroll_tokens.use(_h("a"), d.device_id, T0 + 1))
    assert not store.write_sync(lambda tx: tx.enroll_tokens.use(_h("a"), d.device_id, T0 + 2))
    assert not store.write_sync(lambda tx: tx.enroll_tokens.use(_h("b"), d.device_id, T0 + 2))
    used = store.read_sync(lambda tx: tx.enroll_tokens.get(_h("a")))
    assert used is not None and (used.used_ms, used.device_id) == (T0 + 1, d.device_id)
    assert type(used.token_hash) is bytes


def test_enrollment_tokens_are_listed_oldest_first_then_by_label(store: Store) -> None:
    made = [("b", T0), ("a", T0), ("c", T0 - 1), ("B", T0)]

    def tx(tx: Tx) -> None:
        for label, at in made:
            tx.enroll_tokens.add(
                EnrollToken(token_hash=_h(label), label=label, created_ms=at, expires_ms=at + 1)
            )

    store.write_sync(tx)
    labels = [t.label for t in store.read_sync(lambda tx: tx.enroll_tokens.all())]
    assert labels == ["c", "B", "a", "b"]  # labels in byte order, as SQLite compares them


def test_enrollment_tokens_of_one_time_and_label_are_listed_in_the_order_made(
    store: Store,
) -> None:
    hashes = [_h(f"same {n}") for n in (3, 1, 2, 0)]

    def tx(tx: Tx) -> None:
        for h in hashes:
            tx.enroll_tokens.add(EnrollToken(token_hash=h, label="x", created_ms=T0, expires_ms=T0))

    store.write_sync(tx)
    assert [t.token_hash for t in store.read_sync(lambda tx: tx.enroll_tokens.all())] == hashes


# -- admin tokens ----------------------------------------------------------------------


def test_admin_tokens_are_found_while_live(store: Store) -> None:
    t = AdminToken(token_hash=_h("ops"), role=Role.MANAGER, label="ops", created_ms=T0)
    assert store.write_sync(lambda tx: tx.admin_tokens.add(t)) is True
    got = store.read_sync(lambda tx: tx.admin_tokens.live_by_hash(_h("ops")))
    assert got == t and got is not None and type(got.role) is Role
    assert type(got.token_hash) is bytes
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_label("ops")) == t
    assert store.write_sync(lambda tx: tx.admin_tokens.revoke(_h("ops"), T0 + 1)) is True
    assert store.write_sync(lambda tx: tx.admin_tokens.revoke(_h("ops"), T0 + 2)) is False
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_hash(_h("ops"))) is None
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_label("ops")) is None
    [listed] = store.read_sync(lambda tx: tx.admin_tokens.all())
    assert listed.revoked_ms == T0 + 1


def test_a_revoked_label_can_be_given_to_a_new_token(store: Store) -> None:
    old = AdminToken(token_hash=_h("1"), role=Role.ADMIN, label="night", created_ms=T0)
    new = AdminToken(token_hash=_h("2"), role=Role.AUDITOR, label="night", created_ms=T0 + 5)
    store.write_sync(lambda tx: tx.admin_tokens.add(old))
    store.write_sync(lambda tx: tx.admin_tokens.revoke(old.token_hash, T0 + 1))
    assert store.write_sync(lambda tx: tx.admin_tokens.add(new)) is True
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_label("night")) == new
    assert [t.token_hash for t in store.read_sync(lambda tx: tx.admin_tokens.all())] == [
        old.token_hash,
        new.token_hash,
    ]


def test_one_live_admin_token_per_label(store: Store) -> None:
    live = AdminToken(token_hash=_h("1"), role=Role.ADMIN, label="day", created_ms=T0)
    second = AdminToken(token_hash=_h("2"), role=Role.AUDITOR, label="day", created_ms=T0 + 1)
    revoked = AdminToken(
        token_hash=_h("3"), role=Role.AUDITOR, label="day", created_ms=T0 + 2, revoked_ms=T0 + 3
    )
    assert store.write_sync(lambda tx: tx.admin_tokens.add(live)) is True
    assert store.write_sync(lambda tx: tx.admin_tokens.add(second)) is False
    assert store.write_sync(lambda tx: tx.admin_tokens.add(revoked)) is True  # not live
    assert store.read_sync(lambda tx: tx.admin_tokens.all()) == [live, revoked]


def test_admin_tokens_made_at_one_time_are_listed_in_the_order_made(store: Store) -> None:
    made = [
        AdminToken(token_hash=_h(f"t{n}"), role=Role.AUDITOR, label=f"{n}", created_ms=T0)
        for n in (5, 1, 9, 3)
    ]

    def tx(tx: Tx) -> None:
        for t in made:
            tx.admin_tokens.add(t)

    store.write_sync(tx)
    assert store.read_sync(lambda tx: tx.admin_tokens.all()) == made


def test_roles_and_how_are_the_values_the_schema_stores() -> None:
    assert [str(r) for r in Role] == ["auditor", "manager", "admin"]
    assert [str(h) for h in EnrollHow] == ["token", "file"]


# -- SQLite only: migration 5 ----------------------------------------------------------


def test_sqlite_migration_5_keeps_one_live_token_per_label(tmp_path: Path) -> None:
    """A store of schema 4 gets the partial unique index when opened, and from then on
    the database itself refuses a second live token with one label."""
    db = tmp_path / "store.db"
    SqliteStore(db).open().close()
    conn = sqlite3.connect(db)
    conn.execute("DROP INDEX admin_tokens_live_label")
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    s = SqliteStore(db).open()  # migrates
    try:
        t = AdminToken(token_hash=_h("1"), role=Role.ADMIN, label="x", created_ms=T0)
        assert s.write_sync(lambda tx: tx.admin_tokens.add(t))
        other = AdminToken(token_hash=_h("2"), role=Role.ADMIN, label="x", created_ms=T0)
        assert not s.write_sync(lambda tx: tx.admin_tokens.add(other))
    finally:
        s.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (5,)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO admin_tokens VALUES (?, 'admin', 'x', ?, NULL)", (_h("3"), T0)
            )
    finally:
        conn.close()


# -- PostgreSQL: two servers on one database -------------------------------------------


@pytest.fixture
def servers() -> Iterator[tuple[Store, Store, str]]:
    """Two stores on one fresh PostgreSQL schema, as two ``syncserver run`` processes on
    one database would be, and the URL, whose ``application_name`` names this test's
    connections (to see which of them wait for a lock)."""
    with fresh_schema() as url:
        url += f"&application_name=sealsync_t_{uuid.uuid4().hex[:12]}"
        a = open_store(url, Path("."), audit_key=AUDIT_KEY)
        try:
            b = open_store(url, Path("."), audit_key=AUDIT_KEY)
            try:
                yield a, b, url
            finally:
                b.close()
        finally:
            a.close()


def _race(stores: list[Store], fns: list[Callable[[Tx], T]]) -> list[T | BaseException]:
    """Run ``fns[i]`` in a write of ``stores[i]``, each in a thread of its own, all at
    once; what each returned or raised."""
    out: list[T | BaseException] = [RuntimeError("not run")] * len(fns)

    def run(i: int) -> None:
        try:
            out[i] = stores[i].write_sync(fns[i])
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 2)
    assert not any(t.is_alive() for t in threads), "a racing transaction never finished"
    return out


def _waiting_for_a_lock(url: str) -> bool:
    """Whether one of this test's connections waits for a lock (polled, never timed)."""
    import psycopg

    app = url.rsplit("application_name=", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        r = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app,),
        ).fetchone()
    return r is not None and r[0] > 0


@pytest.mark.postgres
def test_two_servers_enrolling_at_once_get_distinct_serials(
    servers: tuple[Store, Store, str],
) -> None:
    """Both take a serial before either commits (MAX + 1 would give both the same)."""
    a, b, _ = servers
    n = 6
    barrier = threading.Barrier(n)

    def enroll(i: int) -> Callable[[Tx], int]:
        def tx(tx: Tx) -> int:
            serial = tx.devices.next_serial()
            barrier.wait(PATIENCE)
            assert tx.devices.add(_device(serial, key=bytes([100 + i]) * 32))
            return serial

        return tx

    got = _race([a, b] * (n // 2), [enroll(i) for i in range(n)])
    assert sorted(got) == list(range(1, n + 1))
    assert [d.serial for d in a.read_sync(lambda tx: tx.devices.all())] == list(range(1, n + 1))


@pytest.mark.postgres
def test_an_enrollment_token_used_by_two_servers_at_once_enrolls_one_device(
    servers: tuple[Store, Store, str],
) -> None:
    """As enroll_tx does: both read the token unused, each adds its device, then uses the
    token; the one whose use fails rolls back (TokenInvalid in the product)."""
    a, b, _ = servers
    token = EnrollToken(token_hash=_h("once"), label="kit", created_ms=T0, expires_ms=T0 + 10)
    a.write_sync(lambda tx: tx.enroll_tokens.add(token))
    barrier = threading.Barrier(2)

    def enroll(i: int) -> Callable[[Tx], uuid.UUID]:
        def tx(tx: Tx) -> uuid.UUID:
            t = tx.enroll_tokens.get(token.token_hash)
            assert t is not None and t.used_ms is None
            barrier.wait(PATIENCE)
            d = _device(tx.devices.next_serial(), key=bytes([10 + i]) * 32)
            assert tx.devices.add(d)
            if not tx.enroll_tokens.use(token.token_hash, d.device_id, T0 + 1):
                raise LookupError("token used meanwhile")
            return d.device_id

        return tx

    got = _race([a, b], [enroll(0), enroll(1)])
    won = [r for r in got if isinstance(r, uuid.UUID)]
    lost = [r for r in got if isinstance(r, LookupError)]
    assert len(won) == 1 and len(lost) == 1, got
    used = a.read_sync(lambda tx: tx.enroll_tokens.get(token.token_hash))
    assert used is not None and used.device_id == won[0]
    assert [d.device_id for d in b.read_sync(lambda tx: tx.devices.all())] == won


@pytest.mark.postgres
def test_one_key_enrolled_by_two_servers_at_once_is_enrolled_once(
    servers: tuple[Store, Store, str],
) -> None:
    a, b, _ = servers
    barrier = threading.Barrier(2)

    def enroll(tx: Tx) -> bool:
        assert tx.devices.by_key(b"k" * 32) is None
        barrier.wait(PATIENCE)
        return tx.devices.add(_device(tx.devices.next_serial(), key=b"k" * 32))

    assert sorted(_race([a, b], [enroll, enroll])) == [False, True]
    assert [d.public_key for d in a.read_sync(lambda tx: tx.devices.all())] == [b"k" * 32]


@pytest.mark.postgres
def test_one_label_given_by_two_servers_at_once_makes_one_live_token(
    servers: tuple[Store, Store, str],
) -> None:
    a, b, _ = servers
    barrier = threading.Barrier(2)

    def create(i: int) -> Callable[[Tx], bool]:
        def tx(tx: Tx) -> bool:
            assert tx.admin_tokens.live_by_label("ops") is None
            barrier.wait(PATIENCE)
            t = AdminToken(token_hash=_h(f"{i}"), role=Role.ADMIN, label="ops", created_ms=T0)
            return tx.admin_tokens.add(t)

        return tx

    got = _race([a, b], [create(0), create(1)])
    assert sorted(got) == [False, True]
    [live] = a.read_sync(lambda tx: tx.admin_tokens.all())
    assert live.token_hash == _h(f"{got.index(True)}")


@pytest.mark.postgres
def test_two_servers_revoking_at_once_revoke_once(servers: tuple[Store, Store, str]) -> None:
    a, b, _ = servers
    d = _enroll(a)
    a.write_sync(
        lambda tx: tx.admin_tokens.add(
            AdminToken(token_hash=_h("t"), role=Role.ADMIN, label="t", created_ms=T0)
        )
    )
    barrier = threading.Barrier(2)

    def revoke(i: int) -> Callable[[Tx], tuple[bool, bool]]:
        def tx(tx: Tx) -> tuple[bool, bool]:
            assert tx.admin_tokens.live_by_label("t") is not None
            barrier.wait(PATIENCE)
            return (
                tx.devices.revoke(d.device_id, T0 + i, f"reason {i}"),
                tx.admin_tokens.revoke(_h("t"), T0 + i),
            )

        return tx

    got = _race([a, b], [revoke(0), revoke(1)])
    assert sorted(got) == [(False, False), (True, True)]
    i = got.index((True, True))
    dev = a.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert dev is not None and (dev.revoked_ms, dev.revoke_reason) == (T0 + i, f"reason {i}")
    [t] = a.read_sync(lambda tx: tx.admin_tokens.all())
    assert t.revoked_ms == T0 + i


@pytest.mark.postgres
def test_a_chain_read_locked_is_advanced_by_one_server_at_a_time(
    servers: tuple[Store, Store, str],
) -> None:
    """A reads the device locked; B's locked read waits (seen in pg_stat_activity, not
    guessed from time) until A has advanced the chain and committed, then reads A's seq:
    two bundles of one device merged at once advance the chain twice, never to one seq."""
    a, b, url = servers
    d = _enroll(a)
    a_holds = threading.Event()

    def first(tx: Tx) -> int:
        dev = tx.devices.get_locked(d.device_id)
        assert dev is not None
        a_holds.set()
        for _ in range(PATIENCE * 100):
            if _waiting_for_a_lock(url):
                break
            threading.Event().wait(0.01)
        else:
            raise AssertionError("the second server's locked read did not wait")
        assert tx.devices.advance_chain(d.device_id, dev.last_seq + 1, b"\x01" * 32)
        return dev.last_seq + 1

    def second(tx: Tx) -> int:
        assert a_holds.wait(PATIENCE)
        dev = tx.devices.get_locked(d.device_id)
        assert dev is not None
        assert tx.devices.advance_chain(d.device_id, dev.last_seq + 1, b"\x02" * 32)
        return dev.last_seq + 1

    assert _race([a, b], [first, second]) == [1, 2]
    got = a.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got is not None and (got.last_seq, got.last_bundle) == (2, b"\x02" * 32)
