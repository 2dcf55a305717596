"""The HTTP API against the real server on 127.0.0.1 (random port), in-process."""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import random
import uuid
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from support.bundles import make_record, seal_for
from support.server import serve
from support.uploader import DeviceClient

from schemas.bundle import read_header
from schemas.errors import ReceiptInvalid
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.tlog import parse_checkpoint, verify_checkpoint, verify_consistency
from schemas.wire import EnrollmentResponse, verify_receipt
from syncserver.access import devices
from syncserver.forms import publish_form
from syncserver.project import Project
from syncserver.service import Service
from syncserver.web import create_app

FORM = shipped_form("escapee-interview")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@pytest_asyncio.fixture
async def server(project: Project) -> AsyncIterator[tuple[Project, str, aiohttp.ClientSession]]:
    publish_form(project, FORM, now=now(), actor="cli:tester")
    async with serve(project) as srv:
        yield srv.project, srv.base, srv.session


async def enrolled(server) -> tuple[DeviceClient, EnrollmentResponse]:  # type: ignore[no-untyped-def]
    project, base, session = server
    return await DeviceClient.enroll(session, base, project)


def bundle(
    project: Project, client: DeviceClient, n: int = 3, seq: int = 1, seed: int = 0
) -> tuple[uuid.UUID, bytes]:
    rng = random.Random(seed)
    recs = [make_record(FORM, synthesize(FORM, rng, fixed={"consent": "yes"})) for _ in range(n)]
    data = seal_for(project, client.key, client.device_id, recs, seq=seq)
    return read_header(io.BytesIO(data)).bundle_id, data


async def log_key(client: DeviceClient) -> str:
    r = await client.session.get(client.base + "/v1/log/key")
    return msgspec.json.decode(await r.read())["verifier_key"]


def count(project: Project, sql: str) -> int:
    return int(project.store.read_sync(lambda c: c.execute(sql).fetchone())[0])


@pytest.mark.asyncio
async def test_enroll_upload_and_verify_the_receipt(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, resp = await enrolled(server)
    bid, data = bundle(project, client)
    receipt = await client.upload(bid, data, chunk=1000)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    body = verify_receipt(
        receipt,
        signing_public=Ed25519PublicKey.from_public_bytes(resp.signing_public_key),
        log_verifier_key=await log_key(client),
        origin=resp.log_origin,
        bundle_id=bid,
        sha256=hashlib.sha256(data).digest(),
    )
    assert body.size == len(data)
    assert count(project, "SELECT COUNT(*) FROM records WHERE status = 'current'") == 3
    # a receipt for other bytes does not verify
    with pytest.raises(ReceiptInvalid):
        verify_receipt(
            receipt,
            signing_public=Ed25519PublicKey.from_public_bytes(resp.signing_public_key),
            log_verifier_key=await log_key(client),
            origin=resp.log_origin,
            bundle_id=bid,
            sha256=bytes(32),
        )


@pytest.mark.asyncio
async def test_duplicate_upload_gets_the_same_receipt_and_other_bytes_409(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, _ = await enrolled(server)
    bid, data = bundle(project, client)
    first = await client.upload(bid, data)
    status, state = await client.create(bid, data)
    assert (status, state.get("complete"), state.get("offset")) == (200, True, len(data)), state
    status, again = await client.complete(bid)
    assert status == 200 and again == first
    other = bytearray(data)
    other[-1] ^= 1
    status, err = await client.create(bid, bytes(other))
    assert status == 409 and err["error"]["code"] == "conflict"
    assert count(project, "SELECT COUNT(*) FROM records") == 3


@pytest.mark.asyncio
async def test_interrupted_upload_resumes_from_the_server_offset(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, _ = await enrolled(server)
    bid, data = bundle(project, client, n=20)
    await client.create(bid, data)
    cuts = sorted({1, 777, len(data) // 2, len(data) - 1})
    off = 0
    for cut in cuts:  # each PATCH is "cut off" at the next point: the client reconnects
        r = await client.patch(bid, off, data[off:cut])
        assert r.status == 204
        off = await client.offset(bid)
        assert off == cut
    r = await client.patch(bid, 0, data[:10])  # a stale offset is refused with the real one
    assert r.status == 409 and r.headers["Upload-Offset"] == str(off)
    r = await client.patch(bid, off, data[off:])
    assert r.status == 204
    status, _ = await client.complete(bid)
    assert status == 200
    assert count(project, "SELECT COUNT(*) FROM records") == 20


@pytest.mark.asyncio
async def test_tampered_bundles_are_quarantined_and_nothing_else_changes(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, _ = await enrolled(server)
    _, data = bundle(project, client)
    for i, pos in enumerate([19, 40, 80, 150, 196, 250, len(data) // 2, len(data) - 1]):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        bid = uuid.UUID(int=random.Random(i).getrandbits(128) & ~(0xF << 76) | (0x7 << 76))
        status, _ = await client.create(bid, bytes(bad))
        assert status == 201
        assert (await client.patch(bid, 0, bytes(bad))).status == 204
        status, receipt = await client.complete(bid)
        assert status == 200  # durably received; what happens next is private
        assert "reason" not in msgspec.json.encode(receipt).decode()
    assert count(project, "SELECT COUNT(*) FROM bundles WHERE state = 'quarantined'") == 8
    assert count(project, "SELECT COUNT(*) FROM quarantine WHERE record_id IS NULL") == 8
    assert count(project, "SELECT COUNT(*) FROM records") == 0


@pytest.mark.asyncio
async def test_auth_failures(server) -> None:  # type: ignore[no-untyped-def]
    project, base, session = server
    client, _ = await enrolled(server)
    r = await session.post(base + "/v1/uploads", data=b"{}")
    body = msgspec.json.decode(await r.read())
    assert r.status == 401 and body["error"]["code"] == "unauthorized" and body["error"]["hint"]
    client.clock_offset = -3600
    r = await client.call("GET", f"/v1/uploads/{uuid.uuid4()}")
    assert r.status == 401
    client.clock_offset = 0
    # the very same signed request twice: the second is a replay
    path = f"/v1/uploads/{uuid.uuid4()}"
    h = client.headers("GET", path)
    assert (await session.get(base + path, headers=h)).status == 404
    r = await session.get(base + path, headers=h)
    assert r.status == 401
    assert msgspec.json.decode(await r.read())["error"]["message"] == "replayed request"
    stranger = DeviceClient(session, base, uuid.uuid4(), client.key)
    assert (await stranger.call("GET", f"/v1/uploads/{uuid.uuid4()}")).status == 401


@pytest.mark.asyncio
async def test_size_limit_and_unknown_upload(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, _ = await enrolled(server)
    huge = project.config.limits.max_bundle_bytes + 1
    from schemas.wire import UploadCreate

    body = msgspec.json.encode(UploadCreate(bundle_id=uuid.uuid4(), size=huge, sha256=bytes(32)))
    r = await client.call("POST", "/v1/uploads", body)
    assert r.status == 413
    assert "hint" in msgspec.json.decode(await r.read())["error"]
    r = await client.call("GET", f"/v1/uploads/{uuid.uuid4()}")
    assert r.status == 404


@pytest.mark.asyncio
async def test_revoked_device_bundle_goes_to_quarantine(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, _ = await enrolled(server)
    devices.revoke(project, client.device_id, "lost", now=now(), actor="cli:tester")
    bid, data = bundle(project, client)
    await client.upload(bid, data)
    assert count(project, "SELECT COUNT(*) FROM records") == 0
    reason = project.store.read_sync(
        lambda c: c.execute("SELECT reason FROM quarantine").fetchone()[0]
    )
    assert reason == "the sealing device is revoked"


@pytest.mark.asyncio
async def test_checkpoints_are_consistent(server) -> None:  # type: ignore[no-untyped-def]
    project, base, session = server
    client, resp = await enrolled(server)
    vkey = await log_key(client)
    r = await session.get(base + "/v1/log/checkpoint")
    cp1 = verify_checkpoint(await r.text(), vkey, origin=resp.log_origin)
    for seq in (1, 2):
        bid, data = bundle(project, client, seq=seq, seed=seq)
        await client.upload(bid, data)
    r = await session.get(base + "/v1/log/checkpoint")
    cp2 = verify_checkpoint(await r.text(), vkey, origin=resp.log_origin)
    assert cp2.size > cp1.size
    r = await session.get(base + f"/v1/log/consistency?from={cp1.size}&to={cp2.size}")
    proof = msgspec.json.decode(await r.read())["proof"]
    import base64

    verify_consistency(
        cp1.size, cp2.size, [base64.b64decode(p) for p in proof], cp1.root_hash, cp2.root_hash
    )
    assert parse_checkpoint  # the module's parser is public too


@pytest.mark.asyncio
async def test_signed_form_set_and_openapi(server) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from schemas.errors import SchemaError
    from schemas.survey import Form
    from schemas.wire import SignedFormSet, verify_formset

    project, base, session = server
    client, resp = await enrolled(server)
    r = await client.call("GET", "/v1/forms")
    assert r.status == 200
    signed = msgspec.json.decode(await r.read(), type=SignedFormSet)
    fs = verify_formset(signed, Ed25519PublicKey.from_public_bytes(resp.signing_public_key))
    [doc] = fs.forms
    assert msgspec.msgpack.decode(doc.document, type=Form) == FORM
    forged = SignedFormSet(body=signed.body + b"x", signature=signed.signature)
    with pytest.raises(SchemaError):
        verify_formset(forged, Ed25519PublicKey.from_public_bytes(resp.signing_public_key))
    assert (await session.get(base + "/v1/forms")).status == 401  # devices only

    r = await session.get(base + "/v1/openapi.json")
    doc_ = msgspec.json.decode(await r.read())
    assert doc_["openapi"] == "3.1.0"
    served = {
        (res.canonical, route.method.lower())
        for res in create_app(project).router.resources()
        for route in res
        if res.canonical.startswith("/v1/") and route.method not in ("HEAD", "OPTIONS")
    }
    documented = {(p, m) for p, ops in doc_["paths"].items() for m in ops}
    undocumented = served - documented
    # log and health endpoints are plain text/JSON helpers, documented in api-v1.md
    assert undocumented <= {
        ("/v1/health", "get"), ("/v1/log/key", "get"), ("/v1/log/checkpoint", "get"),
        ("/v1/log/consistency", "get"), ("/v1/openapi.json", "get"),
    }  # fmt: skip
    assert "UploadCreate" in doc_["components"]["schemas"]


@pytest.mark.asyncio
async def test_admin_api_roles(server) -> None:  # type: ignore[no-untyped-def]
    from syncserver.access.admin_tokens import create_token as admin_token
    from syncserver.access.admin_tokens import revoke_token

    project, base, session = server
    client, _ = await enrolled(server)
    rng = random.Random(4)
    answers = synthesize(FORM, rng, fixed={"consent": "yes"})
    answers["respondent_name"] = "역할시험"
    rec = make_record(FORM, answers)
    data = seal_for(project, client.key, client.device_id, [rec])
    await client.upload(read_header(io.BytesIO(data)).bundle_id, data)
    tokens = {
        r: admin_token(project, r, f"{r}-1", now=now(), actor="cli:tester")
        for r in ("auditor", "manager", "admin")
    }

    async def get(path: str, role: str | None) -> tuple[int, object]:
        h = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        r = await session.get(base + path, headers=h)
        return r.status, msgspec.json.decode(await r.read())

    rpath = f"/v1/admin/records/{rec.record_id}"
    assert (await get("/v1/admin/audit", None))[0] == 401
    assert (await get("/v1/admin/audit", "auditor"))[0] == 200
    assert (await get(rpath, "auditor"))[0] == 403
    status, body = await get(rpath, "manager")
    assert status == 200 and "respondent_name" not in body[0]["answers"]  # type: ignore[index]
    assert (await get(rpath + "?sensitive=1", "manager"))[0] == 403
    status, body = await get(rpath + "?sensitive=1", "admin")
    assert status == 200 and body[0]["answers"]["respondent_name"] == "역할시험"  # type: ignore[index]
    status, entries = await get("/v1/admin/audit?kind=key_use", "auditor")
    assert [e["actor"] for e in entries] == ["token:admin-1"]  # type: ignore[union-attr]
    r = await session.post(
        base + rpath + "/review",
        data=b'{"state": "approved"}',
        headers={"Authorization": f"Bearer {tokens['manager']}"},
    )
    assert r.status == 200
    revoke_token(project, "manager-1", now=now(), actor="cli:tester")
    assert (await get(rpath, "manager"))[0] == 401


@pytest.mark.asyncio
async def test_oversized_chunk_is_413_in_the_one_error_shape(server) -> None:  # type: ignore[no-untyped-def]
    project = server[0]
    client, _ = await enrolled(server)
    bid, data = bundle(project, client)
    await client.create(bid, data)
    big = b"\0" * (project.config.limits.max_chunk_bytes + 128 * 1024)
    r = await client.patch(bid, 0, big)
    assert r.status == 413
    assert set(msgspec.json.decode(await r.read())["error"]) >= {"code", "message"}


def _limits(project: Project, **changes: int) -> None:
    lim = msgspec.structs.replace(project.config.limits, **changes)
    project.config = msgspec.structs.replace(project.config, limits=lim)


@pytest.mark.asyncio
async def test_open_uploads_per_device_are_capped(server) -> None:  # type: ignore[no-untyped-def]
    """A device cannot fill the disk with uploads it announces and never completes."""
    project, _, _ = server
    _limits(project, open_uploads_per_device=2)
    client, _ = await enrolled(server)
    b = [bundle(project, client, n=1, seq=s, seed=s) for s in (1, 2, 3)]
    for bid, data in b[:2]:
        assert (await client.create(bid, data))[0] == 201
    status, body = await client.create(*b[2])
    err = body["error"]
    assert status == 429 and err["code"] == "rate_limited" and "complete" in err["hint"]
    assert (await client.create(*b[0]))[0] == 200  # asking again about one is fine
    await client.upload(*b[0])  # one completes: room for another
    assert (await client.create(*b[2]))[0] == 201


@pytest.mark.asyncio
async def test_uploads_untouched_for_days_expire(server) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = server
    client, _ = await enrolled(server)
    (old, old_data), (fresh, fresh_data), (done, done_data) = (
        bundle(project, client, n=1, seq=s, seed=s) for s in (1, 2, 3)
    )
    for bid, data in ((old, old_data), (fresh, fresh_data)):
        assert (await client.create(bid, data))[0] == 201
        assert (await client.patch(bid, 0, data[:100])).status == 204
    await client.upload(done, done_data)
    service = Service(project)  # beside the app's: the same store and upload area
    try:
        _expire_and_check(service, project, old, fresh)
    finally:
        service.close()
    status, body = await client.create(old, old_data)  # the device comes back: from zero
    assert status == 201 and body["offset"] == 0
    await client.upload(old, old_data)


def _expire_and_check(service: Service, project: Project, old: uuid.UUID, fresh: uuid.UUID) -> None:
    later = now() + datetime.timedelta(days=project.config.limits.open_upload_days + 1)
    part = service.area.part(fresh)
    touched = later.timestamp() - 3600  # bytes arrived an hour before "later"
    os.utime(part, (touched, touched))
    assert service.expire_open_uploads(later) == 1  # the old one; not the fresh, not the done
    assert not service.area.part(old).exists() and part.exists()
    assert count(project, "SELECT COUNT(*) FROM uploads") == 2
    assert count(project, "SELECT COUNT(*) FROM bundles") == 1
