"""The curious server operator without the project secret, and the malicious enrolled
device, against the store (docs/threat-model.md): what the disk shows, what the
audit log holds, what a device can change and how it is seen."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from security_helpers import FORM, NAME, NARRATIVE, answers, now
from support.bundles import make_record, seal_for
from support.uploader import enroll_offline

from schemas.bundle import read_header
from syncserver.access import devices
from syncserver.access.admin_tokens import create_token
from syncserver.analysis.export import export_form
from syncserver.audit.entries import decode_entry
from syncserver.audit.log import AuditLog
from syncserver.ingest import IngestReport, ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project


class Env:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.area = UploadArea(project.config.root)
        self.preparer = Preparer.for_project(project)

    def device(self, label: str = "laptop-1") -> tuple[Ed25519PrivateKey, uuid.UUID]:
        return enroll_offline(self.project, label=label, now=now())

    def ingest(self, dev: uuid.UUID, data: bytes) -> IngestReport:
        bid = read_header(io.BytesIO(data)).bundle_id
        self.area.append(bid, 0, data, len(data))
        sha = hashlib.sha256(data).digest()
        persist_upload(self.project, self.area, bid, dev, len(data), sha, now=now())
        return ingest_bundle(self.project, self.area, self.preparer, bid, now=now())

    def audit(self) -> list[bytes]:
        return [
            r[0]
            for r in self.project.store.read_sync(
                lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
            )
        ]


@pytest.fixture
def env(project: Project) -> Env:
    return Env(project)


def every_byte(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_audit_entries_hold_no_answer_name_token_or_key(env: Env, tmp_path: Path) -> None:
    """Entries and checkpoints are public to auditors: after uploads, a quarantined
    record, tokens, an export with sensitive answers and its key use, none holds an
    answer, a name, a token or a key."""
    project = env.project
    key, dev = env.device()
    bad = answers(2)
    bad["not_a_question"] = NAME
    recs = [make_record(FORM, answers(1)), make_record(FORM, bad)]
    assert env.ingest(dev, seal_for(project, key, dev, recs)).quarantined == 1
    enroll_token = devices.create_token(project, "kit 9", now=now(), actor="cli:tester")
    admin_token = create_token(project, "admin", "admin-1", now=now(), actor="cli:tester")
    export_form(
        project,
        FORM.id,
        fmt="jsonl",
        out_dir=tmp_path / "out",
        actor="token:admin-1",
        now=now(),
        include_sensitive=True,
        role="admin",
    )
    assert NAME in (tmp_path / "out" / f"{FORM.id}.jsonl").read_text(encoding="utf-8")
    ident = project.identity
    secrets = [
        NAME.encode(),
        NAME.encode("utf-16-le"),
        NARRATIVE.encode(),
        enroll_token.encode(),
        admin_token.encode(),
        ident.store_key,
        ident.signing.private_bytes_raw(),
        ident.recipient.private.private_bytes_raw(),
    ]
    entries = env.audit()
    kinds = {decode_entry(e).kind for e in entries}
    assert {"upload", "accept", "quarantine", "token", "export"} <= kinds
    AuditLog(project).checkpoint()
    notes = project.store.read_sync(lambda c: c.execute("SELECT note FROM checkpoints").fetchall())
    assert notes
    for blob in [*entries, *(n[0].encode() for n in notes)]:
        assert not any(s in blob for s in secrets)


def test_without_the_project_secret_the_disk_shows_no_sensitive_answer(env: Env) -> None:
    """Everything a copy of the project directory holds: the database and its WAL, the
    received bundles (ciphertext, attachments inside), the sealed identity, the
    configuration. No sensitive answer, no key, no enrollment or admin token (kept as
    hashes); the project's private keys are only in ``identity.sealed``, under the
    passphrase."""
    project = env.project
    key, dev = env.device()
    recs = [make_record(FORM, answers(i)) for i in range(3)]
    assert env.ingest(dev, seal_for(project, key, dev, recs)).accepted == 3
    tokens = [
        devices.create_token(project, "kit 9", now=now(), actor="cli:tester").encode(),
        create_token(project, "admin", "admin-1", now=now(), actor="cli:tester").encode(),
    ]
    ident = project.identity
    project.store.close()
    try:
        files = every_byte(project.config.root)
        assert "store.db" in files and any(f.startswith("blobs") for f in files)
        needles = [
            NAME.encode(),
            NAME.encode("utf-16-le"),
            NARRATIVE.encode(),
            ident.store_key,
            ident.signing.private_bytes_raw(),
            ident.recipient.private.private_bytes_raw(),
            *tokens,
        ]
        for name, data in files.items():
            assert not any(n in data for n in needles), name
    finally:
        project.store.open()


def test_a_record_superseded_by_another_device_keeps_the_original_and_names_the_device(
    env: Env,
) -> None:
    """An enrolled device that knows another device's record id can send a newer version
    of it (records are not owned by devices): the original stays as history, and the
    new version, its bundle and its audit entry name the device that sent it."""
    project = env.project
    key_a, dev_a = env.device("laptop-a")
    key_b, dev_b = env.device("laptop-b")
    v1 = make_record(FORM, answers(1))
    env.ingest(dev_a, seal_for(project, key_a, dev_a, [v1]))
    v2 = make_record(FORM, answers(2), record_id=v1.record_id, version=2)
    report = env.ingest(dev_b, seal_for(project, key_b, dev_b, [v2]))
    assert report.superseded == 1
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT version, status, device_id, bundle_id FROM records ORDER BY version"
        ).fetchall()
    )
    assert [(r[0], r[1], uuid.UUID(bytes=r[2])) for r in rows] == [
        (1, "superseded", dev_a),
        (2, "current", dev_b),
    ]
    entry = decode_entry(env.audit()[-2])  # the supersede entry, before the bundle's accept
    assert (entry.kind, entry.subject) == ("supersede", str(v1.record_id))
    assert entry.detail["bundle"] == str(uuid.UUID(bytes=rows[1][3]))
    owner = project.store.read_sync(
        lambda c: c.execute(
            "SELECT device_id FROM bundles WHERE bundle_id = ?", (rows[1][3],)
        ).fetchone()[0]
    )
    assert uuid.UUID(bytes=owner) == dev_b


def test_a_gap_or_a_replay_in_a_devices_bundle_chain_is_flagged(env: Env) -> None:
    """A bundle withheld (a skipped sequence number) or an old bundle re-sealed under a
    used number is accepted (nothing a device sent is dropped) and flagged
    ``chain_gap`` in its audit entry."""
    project = env.project
    key, dev = env.device()

    def send(seq: int, prev: bytes, seed: int) -> tuple[bytes, bool]:
        data = seal_for(project, key, dev, [make_record(FORM, answers(seed))], seq=seq, prev=prev)
        env.ingest(dev, data)
        accept = decode_entry(env.audit()[-1])
        assert accept.kind == "accept"
        return hashlib.sha256(data).digest(), accept.detail["chain_gap"]

    h1, gap = send(1, bytes(32), 1)
    assert not gap
    h2, gap = send(2, h1, 2)
    assert not gap
    _, gap = send(4, h2, 3)  # bundle 3 never arrived
    assert gap
    _, gap = send(2, h1, 4)  # a second bundle 2
    assert gap
    _, gap = send(5, bytes(32), 5)  # the right number, the wrong predecessor
    assert gap
