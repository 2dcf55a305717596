"""Serving a bundle vector (``tests/vectors/bundle/``): a project that holds the
vector's recipient key, project id and devices, and how the vector reaches it."""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from schemas.bundle import RecipientKey, read_header
from schemas.errors import BundleReason
from syncserver.project import Project
from syncserver.project.keys import ProjectIdentity, save_identity
from syncserver.store import Device, EnrollHow

from .project import FAST_KDF, SECRET, new_project, reopen

__all__ = ["vector_delivery", "vector_project"]

#: The project id a vector expects unless it names one (the generator's).
VECTOR_PROJECT = "5a0f3e2d-1c4b-4a69-8877-665544332211"
#: The generator's DEVICE_A, which seals every vector that does not open.
DEVICE_A = uuid.UUID("6f1c0a52-3d4e-4b7a-9c2d-5e8f1a2b3c4d")


def vector_project(root: Path, vector: dict[str, Any]) -> Project:
    """A project holding a bundle vector's recipient key and project id (the one the
    vector expects the opener to serve), with the vector's devices registered (their
    public keys only), open. The caller closes it."""
    p = new_project(root)
    ident = p.identity
    p.close()
    raw = bytes.fromhex(vector["recipient_private_key"])
    key = RecipientKey(X25519PrivateKey.from_private_bytes(raw))
    pid = uuid.UUID(vector.get("expect_project_id", VECTOR_PROJECT))
    swapped = ProjectIdentity(pid, key, ident.signing, ident.store_key)
    save_identity(root / "identity.sealed", swapped, SECRET, kdf=FAST_KDF)
    project = reopen(root)
    # No repository replaces a project's id (a project never changes it): SQL, SQLite's.
    project.store.write_sync(
        lambda c: c.execute("UPDATE meta SET value = ? WHERE key = 'project_id'", (pid.bytes,))
    )
    for i, (device_id, pub) in enumerate(vector["devices"].items(), start=1000):
        device = Device(
            device_id=uuid.UUID(device_id),
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


def vector_delivery(
    vector: dict[str, Any], project_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID, BundleReason | None]:
    """How a bundle vector reaches a server that serves ``project_id``: (the device that
    uploads it, the bundle id it is uploaded under, the reason it must be quarantined
    with, or None if it must open). A bundle is uploaded by the device that sealed it
    (the vector's device A for those that do not open); a server checks the header whole
    before it opens anything, so a header naming another project is refused as that."""
    sealer = DEVICE_A
    if vector["expect"] == "success":
        sealer = uuid.UUID(vector["expected"]["device_id"])
    why = BundleReason[vector["reason"]] if vector["reason"] else None
    try:
        header = read_header(io.BytesIO(base64.b64decode(vector["bundle"])))
    except Exception:
        bundle_id = uuid.uuid4()  # a header too broken to name it: upload under any id
    else:
        bundle_id = header.bundle_id
        if header.project_id != project_id:
            why = BundleReason.WRONG_PROJECT
    if "expect_bundle_id" in vector:
        bundle_id = uuid.UUID(vector["expect_bundle_id"])
    return sealer, bundle_id, why
