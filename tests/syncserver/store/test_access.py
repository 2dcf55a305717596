"""The access repositories (tx.devices, tx.enroll_tokens, tx.admin_tokens): what each
method answers and changes, on a bare store (synthetic rows, no project)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncserver.store import (
    AdminToken,
    Device,
    EnrollHow,
    EnrollToken,
    Role,
    SqliteStore,
    Tx,
)

T0 = 1_700_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db").open()
    try:
        yield s
    finally:
        s.close()


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


def _enroll(store: SqliteStore, *, key: bytes | None = None) -> Device:
    """Allocate the next serial and add a device with it, in one transaction."""

    def tx(tx: Tx) -> Device:
        d = _device(tx.devices.next_serial(), key=key)
        tx.devices.add(d)
        return d

    return store.write_sync(tx)


# -- devices ---------------------------------------------------------------------------


def test_a_device_round_trips_with_the_defaults_of_a_new_one(store: SqliteStore) -> None:
    d = _enroll(store)
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got == d
    assert got is not None
    assert (got.serial, got.last_seq, got.last_bundle, got.revoked_ms) == (1, 0, None, None)
    assert type(got.enrolled_how) is EnrollHow and got.enrolled_how == "file"
    assert isinstance(got.device_id, uuid.UUID)
    assert store.read_sync(lambda tx: tx.devices.get(uuid.UUID(int=99))) is None


def test_serials_are_allocated_one_after_another(store: SqliteStore) -> None:
    assert store.read_sync(lambda tx: tx.devices.next_serial()) == 1
    first, second = _enroll(store), _enroll(store)
    assert (first.serial, second.serial) == (1, 2)
    assert [d.serial for d in store.read_sync(lambda tx: tx.devices.all())] == [1, 2]


def test_a_rolled_back_enrollment_gives_its_serial_back(store: SqliteStore) -> None:
    """SQLite allocates MAX + 1 inside the transaction: nothing is used up on failure
    (a sequence would leave a gap; the interface allows either)."""

    def fails(tx: Tx) -> None:
        tx.devices.add(_device(tx.devices.next_serial()))
        raise RuntimeError("after the insert")

    with pytest.raises(RuntimeError):
        store.write_sync(fails)
    assert _enroll(store).serial == 1


def test_a_device_is_found_by_its_key(store: SqliteStore) -> None:
    d = _enroll(store, key=b"k" * 32)
    assert store.read_sync(lambda tx: tx.devices.by_key(b"k" * 32)) == d
    assert store.read_sync(lambda tx: tx.devices.by_key(b"x" * 32)) is None


def test_revoking_changes_a_live_device_once(store: SqliteStore) -> None:
    d = _enroll(store)
    assert store.write_sync(lambda tx: tx.devices.revoke(d.device_id, T0 + 5, "lost")) is True
    assert store.write_sync(lambda tx: tx.devices.revoke(d.device_id, T0 + 9, "again")) is False
    assert store.write_sync(lambda tx: tx.devices.revoke(uuid.UUID(int=7), T0, "x")) is False
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got is not None and (got.revoked_ms, got.revoke_reason) == (T0 + 5, "lost")


def test_the_bundle_chain_advances(store: SqliteStore) -> None:
    d, other = _enroll(store), _enroll(store)
    store.write_sync(lambda tx: tx.devices.advance_chain(d.device_id, 3, b"\x01" * 32))
    got = store.read_sync(lambda tx: tx.devices.get(d.device_id))
    assert got is not None and (got.last_seq, got.last_bundle) == (3, b"\x01" * 32)
    assert store.read_sync(lambda tx: tx.devices.get(other.device_id)) == other


# -- enrollment tokens -----------------------------------------------------------------


def test_an_enrollment_token_is_used_once(store: SqliteStore) -> None:
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


def test_enrollment_tokens_are_listed_oldest_first_then_by_label(store: SqliteStore) -> None:
    made = [("b", T0), ("a", T0), ("c", T0 - 1)]

    def tx(tx: Tx) -> None:
        for label, at in made:
            tx.enroll_tokens.add(
                EnrollToken(token_hash=_h(label), label=label, created_ms=at, expires_ms=at + 1)
            )

    store.write_sync(tx)
    assert [t.label for t in store.read_sync(lambda tx: tx.enroll_tokens.all())] == ["c", "a", "b"]


# -- admin tokens ----------------------------------------------------------------------


def test_admin_tokens_are_found_while_live(store: SqliteStore) -> None:
    t = AdminToken(token_hash=_h("ops"), role=Role.MANAGER, label="ops", created_ms=T0)
    store.write_sync(lambda tx: tx.admin_tokens.add(t))
    got = store.read_sync(lambda tx: tx.admin_tokens.live_by_hash(_h("ops")))
    assert got == t and got is not None and type(got.role) is Role
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_label("ops")) == t
    assert store.write_sync(lambda tx: tx.admin_tokens.revoke(_h("ops"), T0 + 1)) is True
    assert store.write_sync(lambda tx: tx.admin_tokens.revoke(_h("ops"), T0 + 2)) is False
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_hash(_h("ops"))) is None
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_label("ops")) is None
    [listed] = store.read_sync(lambda tx: tx.admin_tokens.all())
    assert listed.revoked_ms == T0 + 1


def test_a_revoked_label_can_be_given_to_a_new_token(store: SqliteStore) -> None:
    old = AdminToken(token_hash=_h("1"), role=Role.ADMIN, label="night", created_ms=T0)
    new = AdminToken(token_hash=_h("2"), role=Role.AUDITOR, label="night", created_ms=T0 + 5)
    store.write_sync(lambda tx: tx.admin_tokens.add(old))
    store.write_sync(lambda tx: tx.admin_tokens.revoke(old.token_hash, T0 + 1))
    store.write_sync(lambda tx: tx.admin_tokens.add(new))
    assert store.read_sync(lambda tx: tx.admin_tokens.live_by_label("night")) == new
    assert [t.token_hash for t in store.read_sync(lambda tx: tx.admin_tokens.all())] == [
        old.token_hash,
        new.token_hash,
    ]


def test_roles_and_how_are_the_values_the_schema_stores() -> None:
    assert [str(r) for r in Role] == ["auditor", "manager", "admin"]
    assert [str(h) for h in EnrollHow] == ["token", "file"]
