"""Access writes that check, then write, give the check's answer when the database refuses
the write instead (another server did the same thing between the check and the write).

On SQLite the writer is alone, so the check always sees the other transaction; here it is
made to miss (as it misses on PostgreSQL when the other server has not committed yet), and
the database's own refusal (a unique index) must give the same error, roll back, and
leave no audit entry. On PostgreSQL two servers (one project opened twice) race for real:
both check before either writes (they meet at a barrier after the check)."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from support.postgres import fresh_schema
from support.project import FAST_KDF, SECRET

from schemas.wire import EnrollmentRequest, sign_request
from syncserver.access import admin_tokens, devices
from syncserver.access.enrollment_tokens import list_enrollment_tokens
from syncserver.audit.entries import decode_entry
from syncserver.errors import DeviceError, SyncServerError, TokenInvalid
from syncserver.project import Project, init_project, open_project
from syncserver.project.config import Config, StoreSettings
from syncserver.store.postgres._access import PgAdminTokens, PgDevices, PgEnrollTokens
from syncserver.store.sqlite._access import SqliteAdminTokens, SqliteDevices

T = TypeVar("T")

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
ACTOR = "cli:tester"


def _entries(project: Project) -> int:
    return len(project.store.read_sync(lambda tx: tx.audit.latest(1000)))


def _request(token: str = "") -> EnrollmentRequest:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    req = EnrollmentRequest(public_key=pub, label="synthetic kit", token=token)
    return sign_request(req, key)


def test_a_label_taken_after_the_check_gets_the_checks_answer(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_tokens.create_token(project, admin_tokens.Role.ADMIN, "ops", actor=ACTOR, now=NOW)
    with pytest.raises(SyncServerError) as checked:
        admin_tokens.create_token(project, admin_tokens.Role.AUDITOR, "ops", actor=ACTOR, now=NOW)
    before = _entries(project)

    monkeypatch.setattr(SqliteAdminTokens, "live_by_label", lambda self, label: None)
    with pytest.raises(SyncServerError) as refused:
        admin_tokens.create_token(project, admin_tokens.Role.AUDITOR, "ops", actor=ACTOR, now=NOW)
    assert type(refused.value) is type(checked.value) is SyncServerError
    assert str(refused.value) == str(checked.value)
    assert "a live token is already labelled 'ops'" in str(refused.value)
    assert _entries(project) == before
    assert [(t.label, t.role) for t in admin_tokens.list_tokens(project)] == [("ops", "admin")]


def test_a_key_enrolled_after_the_check_gets_the_checks_answer(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _request()
    devices.enroll(project, request, how="file", actor=ACTOR, now=NOW)
    with pytest.raises(DeviceError) as checked:
        devices.enroll(project, request, how="file", actor=ACTOR, now=NOW)
    before = _entries(project)

    monkeypatch.setattr(SqliteDevices, "by_key", lambda self, key: None)
    with pytest.raises(DeviceError) as refused:
        devices.enroll(project, request, how="file", actor=ACTOR, now=NOW)
    assert type(refused.value) is type(checked.value) is DeviceError
    assert str(refused.value) == str(checked.value)
    assert "this device key is already enrolled" in str(refused.value)
    assert _entries(project) == before
    assert [d.serial for d in devices.list_devices(project)] == [1]


# -- PostgreSQL: two servers on one database, for real ---------------------------------

#: How long a racing thread waits for the other before the test fails (never reached
#: when the code is right: outcomes are asserted, never timings).
PATIENCE = 20


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Project, Project]]:
    """One project on a fresh PostgreSQL schema, opened twice: two servers."""
    with fresh_schema() as url:
        config = Config(store=StoreSettings(url=url))
        root = tmp_path / "proj"
        a = init_project(root, SECRET, kdf=FAST_KDF, actor=ACTOR, config=config)
        try:
            b = open_project(root, SECRET)
            try:
                yield a, b
            finally:
                b.close()
        finally:
            a.close()


def _meet_after(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str, parties: int = 2
) -> threading.Barrier:
    """Make ``cls.name`` (a check) wait, once it has read, until every racing
    transaction has read too: all of them check before any of them writes."""
    barrier = threading.Barrier(parties)
    real = getattr(cls, name)

    def checked(self: object, *args: object) -> object:
        result = real(self, *args)
        barrier.wait(PATIENCE)
        return result

    monkeypatch.setattr(cls, name, checked)
    return barrier


def _both(fns: list[Callable[[], T]]) -> list[T | BaseException]:
    out: list[T | BaseException] = [RuntimeError("not run")] * len(fns)

    def run(i: int) -> None:
        try:
            out[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 2)
    assert not any(t.is_alive() for t in threads), "a racing transaction never finished"
    return out


def _kinds(project: Project) -> list[str]:
    return [
        decode_entry(e.entry).kind
        for e in reversed(project.store.read_sync(lambda tx: tx.audit.latest(1000)))
    ]


@pytest.mark.postgres
def test_two_servers_giving_one_label_at_once_make_one_token(
    two_servers: tuple[Project, Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_servers
    _meet_after(monkeypatch, PgAdminTokens, "live_by_label")
    got = _both(
        [
            lambda p=p: admin_tokens.create_token(
                p, admin_tokens.Role.ADMIN, "ops", actor=ACTOR, now=NOW
            )
            for p in (a, b)
        ]
    )
    [lost] = [r for r in got if isinstance(r, BaseException)]
    assert type(lost) is SyncServerError
    assert "a live token is already labelled 'ops'" in str(lost)
    assert [(t.label, t.revoked) for t in admin_tokens.list_tokens(b)] == [("ops", False)]
    assert _kinds(a) == ["init", "token"]


@pytest.mark.postgres
def test_an_enrollment_token_used_on_two_servers_at_once_enrolls_one_device(
    two_servers: tuple[Project, Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_servers
    token = devices.create_token(a, "kit", actor=ACTOR, now=NOW)
    requests = [_request(token) for _ in range(2)]
    _meet_after(monkeypatch, PgEnrollTokens, "get")
    got = _both(
        [
            lambda p=p, r=r: devices.enroll(p, r, how="token", now=NOW)
            for p, r in zip((a, b), requests, strict=True)
        ]
    )
    [lost] = [r for r in got if isinstance(r, BaseException)]
    assert type(lost) is TokenInvalid
    [device] = devices.list_devices(b)
    [used] = list_enrollment_tokens(a)
    assert used.device_id == device.device_id and used.used is not None
    assert _kinds(a) == ["init", "token", "enroll"]


@pytest.mark.postgres
def test_one_key_enrolled_on_two_servers_at_once_is_enrolled_once(
    two_servers: tuple[Project, Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_servers
    request = _request()
    _meet_after(monkeypatch, PgDevices, "by_key")
    got = _both(
        [lambda p=p: devices.enroll(p, request, how="file", actor=ACTOR, now=NOW) for p in (a, b)]
    )
    [lost] = [r for r in got if isinstance(r, BaseException)]
    assert type(lost) is DeviceError
    assert "this device key is already enrolled" in str(lost)
    assert [d.label for d in devices.list_devices(a)] == ["synthetic kit"]
    assert _kinds(b) == ["init", "enroll"]
