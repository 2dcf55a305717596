"""Active network attacker and malicious enrolled device against the HTTP API
(docs/threat-model.md): signed requests cannot be altered, borrowed or redirected;
an upload belongs to its device; a receipt is no oracle."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import msgspec
import pytest
from security_helpers import Server

from schemas.wire import H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP, UploadCreate
from schemas.wire import sign_request_headers as sign


def _create_body(bundle_id: uuid.UUID, data: bytes) -> bytes:
    return msgspec.json.encode(
        UploadCreate(bundle_id=bundle_id, size=len(data), sha256=hashlib.sha256(data).digest())
    )


@pytest.mark.parametrize("what", ["body", "path", "method", "timestamp", "nonce", "device"])
@pytest.mark.asyncio
async def test_a_signed_request_altered_in_transit_is_refused(server: Server, what: str) -> None:
    """Each part of a request the signature covers, changed by someone on the path,
    makes it 401, and nothing is created."""
    client, _ = await server.enroll()
    other, _ = await server.enroll("laptop-2")
    bid, data = server.bundle(client)
    body = _create_body(bid, data)
    method, path = "POST", "/v1/uploads"
    h = sign(client.key, client.device_id, method, path, body, int(time.time()))
    if what == "body":  # another bundle announced under the same signature
        body = _create_body(uuid.uuid4(), data)
    elif what == "path":
        path = "/v1/uploads?x=1"
    elif what == "method":  # a GET signed for the upload's state, sent as HEAD
        h = sign(client.key, client.device_id, "GET", f"/v1/uploads/{bid}", b"", int(time.time()))
        method, path, body = "HEAD", f"/v1/uploads/{bid}", b""
    elif what == "timestamp":
        h[H_TIMESTAMP] = str(int(h[H_TIMESTAMP]) - 1)
    elif what == "nonce":
        h[H_NONCE] = "A" + h[H_NONCE][1:]
    else:  # the request passed off as another enrolled device's
        h[H_DEVICE] = str(other.device_id)
    r = await server.session.request(method, server.base + path, data=body, headers=h)
    assert r.status == 401, await r.text()
    if method != "HEAD":
        err = msgspec.json.decode(await r.read())["error"]
        assert err["message"] == "request signature does not verify"
    assert server.count("SELECT COUNT(*) FROM uploads") == 0


@pytest.mark.asyncio
async def test_a_request_signed_with_another_devices_key_is_refused(server: Server) -> None:
    """A device (or someone holding a stolen key of one device) cannot act as another."""
    victim, _ = await server.enroll()
    thief, _ = await server.enroll("laptop-2")
    bid, data = server.bundle(victim)
    body = _create_body(bid, data)
    h = sign(thief.key, victim.device_id, "POST", "/v1/uploads", body, int(time.time()))
    r = await server.session.post(server.base + "/v1/uploads", data=body, headers=h)
    assert r.status == 401
    garbage = dict(h, **{H_SIGNATURE: base64.b64encode(bytes(64)).decode()})
    r = await server.session.post(server.base + "/v1/uploads", data=body, headers=garbage)
    assert r.status == 401
    assert server.count("SELECT COUNT(*) FROM uploads") == 0


@pytest.mark.asyncio
async def test_an_upload_belongs_to_the_device_that_created_it(server: Server) -> None:
    """Another enrolled device can neither read the state of, append to, complete nor
    take over an upload: 404 (it learns nothing), 409 for a bundle id already taken."""
    owner, _ = await server.enroll()
    other, _ = await server.enroll("laptop-2")
    bid, data = server.bundle(owner)
    assert (await owner.create(bid, data))[0] == 201
    half = len(data) // 2
    assert (await owner.patch(bid, 0, data[:half])).status == 204
    assert (await other.call("GET", f"/v1/uploads/{bid}")).status == 404
    assert (await other.patch(bid, half, data[half:])).status == 404
    assert (await other.complete(bid))[0] == 404
    status, err = await other.create(bid, data)  # same id, same bytes, other device
    assert status == 409 and err["error"]["code"] == "conflict"
    assert await owner.offset(bid) == half  # untouched
    assert (await owner.patch(bid, half, data[half:])).status == 204
    assert (await owner.complete(bid))[0] == 200
    assert server.count("SELECT COUNT(*) FROM records WHERE status = 'current'") == 1


@pytest.mark.asyncio
async def test_devices_cannot_reach_admin_endpoints(server: Server) -> None:
    """A device's signature is no admin credential: records, quarantine and the audit
    listing need a role-scoped bearer token."""
    client, _ = await server.enroll()
    bid, data = server.bundle(client)
    await client.upload(bid, data)
    rid = server.project.store.read_sync(
        lambda c: c.execute("SELECT record_id FROM records").fetchone()[0]
    )
    for path in (
        f"/v1/admin/records/{uuid.UUID(bytes=rid)}?sensitive=1",
        "/v1/admin/quarantine",
        "/v1/admin/audit",
    ):
        r = await client.call("GET", path)
        assert r.status == 401, path
        r = await client.call("GET", path, headers={"Authorization": "Bearer sst1_made-up"})
        assert r.status == 401, path


@pytest.mark.asyncio
async def test_a_receipt_does_not_tell_the_uploader_whether_the_bundle_opened(
    server: Server,
) -> None:
    """A good bundle and a tampered one get receipts of the same shape, logging the same
    kind of entry: the server is no oracle for someone probing the format."""
    client, _ = await server.enroll()
    good_id, good = server.bundle(client, seed=1)
    bad_id, bad = server.bundle(client, seq=2, seed=2)
    tampered = bytearray(bad)
    tampered[len(tampered) // 2] ^= 0x40
    receipts = {}
    for bid, data in ((good_id, good), (bad_id, bytes(tampered))):
        status, _ = await client.create(bid, data)
        assert status == 201
        assert (await client.patch(bid, 0, data)).status == 204
        r = await client.call("POST", f"/v1/uploads/{bid}/complete")
        assert r.status == 200
        raw = await r.read()
        assert b"quarantin" not in raw.lower() and b"reason" not in raw
        receipts[bid] = msgspec.json.decode(raw)
    bodies = [
        msgspec.msgpack.decode(base64.b64decode(receipts[b]["body"])) for b in (good_id, bad_id)
    ]
    assert bodies[0].keys() == bodies[1].keys()
    entries = [msgspec.msgpack.decode(b["log_entry"]) for b in bodies]
    assert [e["kind"] for e in entries] == ["upload", "upload"]
    assert entries[0]["detail"].keys() == entries[1]["detail"].keys()
    states = server.project.store.read_sync(
        lambda c: c.execute("SELECT state FROM bundles ORDER BY received_ms").fetchall()
    )
    assert sorted(s for (s,) in states) == ["accepted", "quarantined"]
