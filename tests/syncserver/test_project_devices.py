from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from support.project import FAST_KDF, NOW, SECRET
from support.uploader import device_request

from schemas import certs
from schemas.errors import CertificateInvalid
from schemas.wire import EnrollmentRequest
from syncserver.access import devices
from syncserver.audit.entries import decode_entry, leaf_hash
from syncserver.errors import (
    DeviceError,
    DeviceUnknown,
    ProjectExists,
    ProjectMissing,
    TokenInvalid,
)
from syncserver.project import Project, init_project, open_project
from syncserver.project.config import load_config


def audit_kinds(project: Project) -> list[str]:
    rows = project.store.read_sync(
        lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
    )
    return [decode_entry(r[0]).kind for r in rows]


def test_init_creates_a_project_and_refuses_to_overwrite(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    assert {p.name for p in root.iterdir()} >= {
        "sealsync.toml",
        "identity.sealed",
        "store.db",
        "blobs",
    }
    assert audit_kinds(project) == ["init"]
    with pytest.raises(ProjectExists):
        init_project(root, SECRET, kdf=FAST_KDF, actor="cli:tester")
    with pytest.raises(ProjectMissing):
        open_project(tmp_path / "elsewhere", SECRET)
    cfg = load_config(root, env={})
    assert cfg.server.host == "127.0.0.1"


def test_reopen(project: Project, tmp_path: Path) -> None:
    project.close()
    again = open_project(tmp_path / "proj", SECRET)
    try:
        assert again.project_id == project.project_id
    finally:
        again.close()


def test_enroll_with_token_once(project: Project) -> None:
    token = devices.create_token(project, "field kit 7", now=NOW, actor="cli:tester")
    assert token.startswith("sst1_")
    stored = project.store.read_sync(lambda tx: tx.enroll_tokens.all())
    assert token.encode() not in repr(stored).encode()  # only its hash is kept
    _, req = device_request(token=token)
    resp = devices.enroll(project, req, how="token", now=NOW)
    cert = certs.verify(
        resp.certificate,
        Ed25519PublicKey.from_public_bytes(resp.signing_public_key),
        now=NOW,
        project_id=project.project_id,
    )
    assert cert.public_key == req.public_key and cert.serial == 1
    assert resp.recipient_public_key == project.identity.recipient_public.raw
    # the token is spent
    _, req2 = device_request(label="laptop-2", token=token)
    with pytest.raises(TokenInvalid):
        devices.enroll(project, req2, how="token", now=NOW)
    assert audit_kinds(project) == ["init", "token", "enroll"]


def test_token_expiry_and_unknown_tokens(project: Project) -> None:
    token = devices.create_token(project, "t", now=NOW, actor="cli:tester")
    _, req = device_request(token=token)
    later = NOW + datetime.timedelta(hours=project.config.devices.token_hours, seconds=1)
    with pytest.raises(TokenInvalid):
        devices.enroll(project, req, how="token", now=later)
    _, req = device_request(token="sst1_made-up")
    with pytest.raises(TokenInvalid):
        devices.enroll(project, req, how="token", now=NOW)
    assert audit_kinds(project) == ["init", "token"]  # nothing happened


def test_offline_enrollment_and_proof_of_possession(project: Project) -> None:
    _, req = device_request()
    resp = devices.enroll(project, req, how="file", now=NOW, actor="cli:tester")
    assert resp.project_id == project.project_id
    forged = EnrollmentRequest(public_key=req.public_key, label="other", signature=req.signature)
    with pytest.raises(DeviceError, match="not signed by the key"):
        devices.enroll(project, forged, how="file", now=NOW, actor="cli:tester")
    with pytest.raises(DeviceError, match="already enrolled"):
        devices.enroll(project, req, how="file", now=NOW, actor="cli:tester")


def test_certificates_expire(project: Project) -> None:
    _, req = device_request()
    resp = devices.enroll(project, req, how="file", now=NOW, actor="cli:tester")
    pub = project.identity.signing_public
    days = project.config.devices.certificate_days
    with pytest.raises(CertificateInvalid) as e:
        certs.verify(resp.certificate, pub, now=NOW + datetime.timedelta(days=days))
    assert e.value.reason == "expired"
    with pytest.raises(CertificateInvalid) as e:
        certs.verify(resp.certificate, pub, now=NOW, project_id=uuid.uuid4())
    assert e.value.reason == "other project"


def test_list_and_revoke(project: Project) -> None:
    for i in range(3):
        devices.enroll(
            project, device_request(label=f"laptop-{i}")[1], how="file", now=NOW, actor="cli:tester"
        )
    listed = devices.list_devices(project)
    assert [d.serial for d in listed] == [1, 2, 3]
    target = listed[1].device_id
    devices.revoke(project, target, "lost at a checkpoint", now=NOW, actor="cli:tester")
    after = {d.device_id: d for d in devices.list_devices(project)}
    assert (
        after[target].revoked is not None and after[target].revoke_reason == "lost at a checkpoint"
    )
    with pytest.raises(DeviceError, match="already revoked"):
        devices.revoke(project, target, "again", now=NOW, actor="cli:tester")
    with pytest.raises(DeviceUnknown):
        devices.revoke(project, uuid.uuid4(), "x", now=NOW, actor="cli:tester")
    assert audit_kinds(project)[-1] == "revoke"


def test_audit_rows_hash_their_entries(project: Project) -> None:
    devices.enroll(project, device_request()[1], how="file", now=NOW, actor="cli:tester")
    rows = project.store.read_sync(
        lambda c: c.execute("SELECT idx, entry, leaf_hash FROM audit").fetchall()
    )
    assert [r[0] for r in rows] == list(range(len(rows)))
    assert all(leaf_hash(r[1]) == r[2] for r in rows)


@pytest.mark.parametrize("label", ["kit\n3", " kit 3", "kit 3 ", "", "kit\u202e3", "k" * 65])
def test_token_labels_are_exact_strings(project: Project, label: str) -> None:
    from syncserver.access import admin_tokens as tokens
    from syncserver.errors import SyncServerError

    with pytest.raises(DeviceError) as e:
        devices.create_token(project, label, actor="cli:tester", now=NOW)
    assert e.value.message == "that label cannot be used for an enrollment token"
    assert e.value.hint is not None and "1 to 64 characters" in e.value.hint
    with pytest.raises(SyncServerError) as e2:
        tokens.create_token(project, "auditor", label, actor="cli:tester", now=NOW)
    assert e2.value.message == "that label cannot be used for an admin token"
    assert audit_kinds(project) == ["init"]  # nothing stored, nothing logged
    rows = project.store.read_sync(
        lambda tx: (len(tx.enroll_tokens.all()), len(tx.admin_tokens.all()))
    )
    assert rows == (0, 0)
