"""Shared values and builders for server tests (imported as ``server_helpers``)."""

from __future__ import annotations

import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.wire import EnrollmentRequest, sign_request
from syncserver.project.keys import KdfParams, Secret

#: Fast Argon2id for tests only; production uses the defaults (about 0.4 s).
FAST_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
SECRET = Secret(passphrase="synthetic test passphrase")
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def device_request(
    label: str = "laptop-1", token: str = ""
) -> tuple[Ed25519PrivateKey, EnrollmentRequest]:
    """A device key and its signed enrollment request (synthetic)."""
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, sign_request(EnrollmentRequest(public_key=pub, label=label, token=token), key)


def make_record(form, answers, *, record_id=None, version=1):  # type: ignore[no-untyped-def]
    """A synthetic record of ``form`` with ``answers``."""
    import datetime as _dt

    from schemas.ids import new_id
    from schemas.wire import Record

    t = _dt.datetime(2026, 11, 1, tzinfo=_dt.UTC)
    return Record(
        record_id=record_id or new_id(),
        version=version,
        form_id=form.id,
        form_version=form.version,
        created_at=t,
        modified_at=t + _dt.timedelta(minutes=version),
        lang="ko",
        answers=answers,
    )


def seal_for(project, device_key, device_id, records, seq=1, prev=bytes(32)) -> bytes:  # type: ignore[no-untyped-def]
    """Seal ``records`` as enrolled device ``device_id`` would, to ``project``'s key."""
    import io

    from schemas.bundle import DeviceKey, seal_bundle

    buf = io.BytesIO()
    seal_bundle(
        buf,
        records=records,
        device=DeviceKey(device_id, device_key),
        recipients=[project.identity.recipient_public],
        project_id=project.project_id,
        device_seq=seq,
        prev_bundle_sha256=prev,
    )
    return buf.getvalue()


def vector_project(root, vector):  # type: ignore[no-untyped-def]
    """A project holding a bundle vector's recipient key and project id (the one the
    vector expects the opener to serve), with the vector's devices registered (their
    public keys only), open. The caller closes it."""
    import uuid as _uuid

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from schemas.bundle import RecipientKey
    from syncserver.project import init_project, open_project
    from syncserver.project.keys import ProjectIdentity, save_identity
    from syncserver.store import Device, EnrollHow

    p = init_project(root, SECRET, kdf=FAST_KDF, actor="cli:tester")
    ident = p.identity
    p.close()
    raw = bytes.fromhex(vector["recipient_private_key"])
    key = RecipientKey(X25519PrivateKey.from_private_bytes(raw))
    pid = _uuid.UUID(vector.get("expect_project_id", "5a0f3e2d-1c4b-4a69-8877-665544332211"))
    swapped = ProjectIdentity(pid, key, ident.signing, ident.store_key)
    save_identity(root / "identity.sealed", swapped, SECRET, kdf=FAST_KDF)
    project = open_project(root, SECRET)
    project.store.write_sync(
        lambda c: c.execute("UPDATE meta SET value = ? WHERE key = 'project_id'", (pid.bytes,))
    )
    for i, (device_id, pub) in enumerate(vector["devices"].items(), start=1000):
        device = Device(
            device_id=_uuid.UUID(device_id),
            serial=i,
            label="vector",
            public_key=bytes.fromhex(pub),
            certificate=b"\x00",
            not_before_ms=0,
            not_after_ms=9999999999999,
            enrolled_ms=0,
            enrolled_how=EnrollHow.FILE,
        )
        project.store.write_sync(lambda tx, d=device: tx.devices.add(d))
    return project


def vector_delivery(vector, project_id):  # type: ignore[no-untyped-def]
    """How a bundle vector reaches a server that serves ``project_id``: (the device that
    uploads it, the bundle id it is uploaded under, the reason it must be quarantined
    with, or None if it must open). A bundle is uploaded by the device that sealed it
    (the vector's device A for those that do not open); a server checks the header whole
    before it opens anything, so a header naming another project is refused as that."""
    import base64 as _b64
    import io as _io
    import uuid as _uuid

    from schemas.bundle import read_header
    from schemas.errors import BundleReason

    sealer = _uuid.UUID("6f1c0a52-3d4e-4b7a-9c2d-5e8f1a2b3c4d")  # the generator's DEVICE_A
    if vector["expect"] == "success":
        sealer = _uuid.UUID(vector["expected"]["device_id"])
    why = BundleReason[vector["reason"]] if vector["reason"] else None
    try:
        header = read_header(_io.BytesIO(_b64.b64decode(vector["bundle"])))
    except Exception:
        bundle_id = _uuid.uuid4()  # a header too broken to name it: upload under any id
    else:
        bundle_id = header.bundle_id
        if header.project_id != project_id:
            why = BundleReason.WRONG_PROJECT
    if "expect_bundle_id" in vector:
        bundle_id = _uuid.UUID(vector["expect_bundle_id"])
    return sealer, bundle_id, why
