"""Access writes that check, then write, give the check's answer when the database refuses
the write instead (another server did the same thing between the check and the write).

On SQLite the writer is alone, so the check always sees the other transaction; here it is
made to miss (as it misses on PostgreSQL when the other server has not committed yet), and
the database's own refusal (a unique index) must give the same error, roll back, and
leave no audit entry. tests/syncserver/store/test_access.py races two servers for real on
PostgreSQL."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.wire import EnrollmentRequest, sign_request
from syncserver.access import admin_tokens, devices
from syncserver.errors import DeviceError, SyncServerError
from syncserver.project import Project
from syncserver.store.sqlite._access import SqliteAdminTokens, SqliteDevices

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
ACTOR = "cli:tester"


def _entries(project: Project) -> int:
    return len(project.store.read_sync(lambda tx: tx.audit.latest(1000)))


def _request() -> EnrollmentRequest:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return sign_request(EnrollmentRequest(public_key=pub, label="synthetic kit"), key)


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
