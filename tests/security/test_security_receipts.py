"""A server that rewrites history, or lies in a receipt (docs/threat-model.md): even
signed with the project's own key, a receipt whose log evidence does not hold is
refused, so the kit keeps its copy."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from security_helpers import Server

from schemas.errors import ReceiptInvalid
from schemas.tlog import verify_checkpoint
from schemas.wire import ReceiptBody, sign_receipt, verify_receipt
from syncserver.audit.log import AuditLog
from syncserver.audit.tlog import sign_checkpoint
from syncserver.project.keys import ProjectIdentity

LIES = [
    "inclusion_proof",
    "log_index",
    "log_entry",
    "checkpoint_root",
    "checkpoint_key",
    "other_entry",
]


@pytest.mark.parametrize("lie", LIES)
@pytest.mark.asyncio
async def test_a_receipt_whose_log_evidence_is_false_is_refused(server: Server, lie: str) -> None:
    """Each lie re-signed with the project key: a wrong inclusion path, index or entry;
    a checkpoint over another root or by another key; a real entry of the log that is
    not this bundle's upload, with its true inclusion proof."""
    project = server.project
    client, resp = await server.enroll()
    bid, data = server.bundle(client)
    receipt = await client.upload(bid, data)
    sha = hashlib.sha256(data).digest()
    log = AuditLog(project)
    check = {
        "signing_public": project.identity.signing_public,
        "log_verifier_key": log.verifier_key,
        "origin": resp.log_origin,
        "bundle_id": bid,
        "sha256": sha,
    }
    body = verify_receipt(receipt, **check)  # the honest receipt verifies
    cp = verify_checkpoint(body.checkpoint, log.verifier_key, origin=resp.log_origin)
    origin = resp.log_origin
    key = project.identity.signing
    if lie == "inclusion_proof":
        proof = list(body.inclusion_proof)
        proof[0] = bytes(b ^ 1 for b in proof[0])
        forged = msgspec.structs.replace(body, inclusion_proof=proof)
    elif lie == "log_index":
        forged = msgspec.structs.replace(body, log_index=body.log_index - 1)
    elif lie == "log_entry":
        entry = msgspec.msgpack.decode(body.log_entry)
        entry["at_ms"] += 1
        forged = msgspec.structs.replace(body, log_entry=msgspec.msgpack.encode(entry))
    elif lie == "checkpoint_root":
        note = sign_checkpoint(origin, cp.size, bytes(32), origin, key)
        forged = msgspec.structs.replace(body, checkpoint=note)
    elif lie == "checkpoint_key":
        other = ProjectIdentity.generate().signing
        note = sign_checkpoint(origin, cp.size, cp.root_hash, origin, other)
        forged = msgspec.structs.replace(body, checkpoint=note)
    else:
        entry0 = project.store.read_sync(
            lambda c: c.execute("SELECT entry FROM audit WHERE idx = 0").fetchone()[0]
        )
        forged = msgspec.structs.replace(
            body, log_index=0, log_entry=entry0, inclusion_proof=log.inclusion_proof(0, cp.size)
        )
    assert isinstance(forged, ReceiptBody)
    with pytest.raises(ReceiptInvalid) as e:
        verify_receipt(sign_receipt(forged, key), **check)
    want = "log entry is not this bundle's upload" if lie == "other_entry" else "log proof"
    assert want in str(e.value)
