"""The kit's flow against the real server on 127.0.0.1, over an in-memory vault:
enroll (online and offline), forms, draft → finalize → seal → sync with verified
receipts and checkpoint consistency; a server whose log was rewritten is caught."""

from __future__ import annotations

import base64
import datetime
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.project import new_project
from support.server import serve
from support.uploader import enroll_file

from collector.kit import Kit, KitError
from schemas.forms import shipped_form
from schemas.survey import Validator
from schemas.survey.synth import synthesize
from schemas.wire import SignedFormSet
from syncserver.access import devices
from syncserver.audit.tlog import sign_checkpoint
from syncserver.project import Project
from syncserver.records.attachments import extract_attachment
from syncserver.web import create_app

FORM = shipped_form("escapee-interview")


class MemoryVault:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put(self, kind: str, id: str, data: bytes) -> None:
        self.objects[(kind, id)] = data

    def get(self, kind: str, id: str) -> bytes:
        return self.objects[(kind, id)]

    def delete(self, kind: str, id: str) -> None:
        self.objects.pop((kind, id), None)

    def list(self, kind: str) -> list[str]:
        return sorted(i for k, i in self.objects if k == kind)

    def put_stream(self, kind: str, id: str, chunks) -> None:  # type: ignore[no-untyped-def]
        self.objects[(kind, id)] = b"".join(chunks)

    def open_stream(self, kind: str, id: str):  # type: ignore[no-untyped-def]
        data = self.objects[(kind, id)]
        return iter([data[i : i + 65536] for i in range(0, len(data), 65536)] or [])


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Project, str, aiohttp.ClientSession]]:
    project = new_project(tmp_path / "p", publish=True)
    try:
        async with serve(project) as srv:
            yield project, srv.base, srv.session
    finally:
        project.close()


def interview(kit: Kit, seed: int) -> None:
    form = kit.form(FORM.id)
    d = kit.new_draft(form, "ko")
    d.answers = synthesize(form, random.Random(seed), fixed={"consent": "yes"})
    kit.save_draft(d)
    assert Validator(form).validate(d.answers) == []
    kit.finalize(d)


@pytest.mark.asyncio
async def test_enroll_interview_seal_sync(served) -> None:  # type: ignore[no-untyped-def]
    project, base, session = served
    kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    with pytest.raises(KitError, match="not enrolled"):
        kit.seal()
    token = devices.create_token(project, "kit", now=now(), actor="cli:tester")
    device_id = await kit.enroll_online(session, base, token, "laptop-3")
    assert await kit.fetch_forms(session) == [(FORM.id, FORM.version)]
    for seed in range(3):
        interview(kit, seed)
    st = kit.status()
    assert (st.enrolled, st.device_id, st.finalized, st.drafts) == (True, device_id, 3, 0)
    [bundle_id] = kit.seal()
    vault = kit.vault
    assert vault.list("final") == []  # type: ignore[attr-defined]
    assert [e.bundle_id for e in kit.outbox()] == [bundle_id]
    report = await kit.sync(session)
    assert report.uploaded == [bundle_id] and report.failed == {}
    assert kit.outbox() == [] and vault.list("outbox") == []  # type: ignore[attr-defined]
    assert vault.list("receipt") == [str(bundle_id)]  # type: ignore[attr-defined]
    count = project.store.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM records").fetchone())
    assert count == (3,)
    # a second round checks the new checkpoint against the last one seen
    interview(kit, 9)
    kit.seal()
    report = await kit.sync(session)
    assert report.failed == {} and len(report.uploaded) == 1
    assert kit.status().sealed_not_uploaded == 0


@pytest.mark.asyncio
async def test_a_rewritten_log_is_caught_and_nothing_is_deleted(served) -> None:  # type: ignore[no-untyped-def]
    project, base, session = served
    kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    await kit.enroll_online(
        session, base, devices.create_token(project, "k", now=now(), actor="cli:tester"), "l"
    )
    await kit.fetch_forms(session)
    interview(kit, 1)
    kit.seal()
    await kit.sync(session)
    # The kit remembers a checkpoint of a *different* history (same size, other root),
    # as if the server had shown it one log before and another now.
    chain = msgspec.msgpack.decode(kit.vault.get("state", "chain"))
    size = int(chain["last_checkpoint"].splitlines()[1])
    forged = sign_checkpoint(
        project.log_origin, size, bytes(32), project.log_origin, project.identity.signing
    )
    chain["last_checkpoint"] = forged
    kit.vault.put("state", "chain", msgspec.msgpack.encode(chain))
    interview(kit, 2)
    [bid] = kit.seal()
    report = await kit.sync(session)
    assert report.uploaded == [] and "NOT CONSISTENT" in report.failed[bid]
    assert [e.bundle_id for e in kit.outbox()] == [bid]  # kept


@pytest.mark.asyncio
async def test_offline_enrollment_and_forged_inputs(served) -> None:  # type: ignore[no-untyped-def]
    project, base, session = served
    kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    request = kit.enrollment_request("field-laptop")
    response = enroll_file(project, request, now=now())  # carried by hand
    other = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    with pytest.raises(KitError, match="another device"):
        other.accept_enrollment(response, base)
    device_id = kit.accept_enrollment(response, base)
    assert isinstance(device_id, uuid.UUID)
    r = await session.get(base + "/v1/health")
    assert r.status == 200
    signed = msgspec.json.decode(
        msgspec.json.encode(SignedFormSet(body=b"not a form set", signature=bytes(64))),
        type=SignedFormSet,
    )
    with pytest.raises(KitError, match="not signed by this project"):
        kit.accept_forms(signed)
    assert kit.forms() == []


@pytest.mark.asyncio
async def test_a_forged_receipt_is_caught_and_nothing_is_deleted(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p", publish=True)
    app = create_app(project)

    @web.middleware
    async def forge(request: web.Request, handler):  # type: ignore[no-untyped-def]
        resp = await handler(request)
        if request.path.endswith("/complete") and resp.status == 200:
            receipt = msgspec.json.decode(resp.body)
            sig = bytearray(base64.b64decode(receipt["signature"]))
            sig[0] ^= 1
            receipt["signature"] = base64.b64encode(bytes(sig)).decode()
            return web.json_response(receipt)
        return resp

    app.middlewares.append(forge)
    try:
        async with serve(project, app=app) as srv:
            session, base = srv.session, srv.base
            kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
            await kit.enroll_online(
                session,
                base,
                devices.create_token(project, "k", now=now(), actor="cli:tester"),
                "l",
            )
            await kit.fetch_forms(session)
            interview(kit, 1)
            [bid] = kit.seal()
            report = await kit.sync(session)
    finally:
        project.close()
    assert report.uploaded == [] and "receipt invalid (signature)" in report.failed[bid]
    assert [e.bundle_id for e in kit.outbox()] == [bid] and kit.vault.list("receipt") == []


@pytest.mark.asyncio
async def test_a_sync_cut_off_at_several_points_resumes(served) -> None:  # type: ignore[no-untyped-def]
    """Earlier syncs died after sending part of each bundle; the next sync resumes every
    one from the server's offset (no byte is sent twice) and all complete."""
    project, base, session = served
    kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    await kit.enroll_online(
        session, base, devices.create_token(project, "k", now=now(), actor="cli:tester"), "l"
    )
    await kit.fetch_forms(session)
    bundles = []
    for seed in range(4):
        interview(kit, seed)
        bundles += kit.seal()
    client = kit._client(session)
    sent: dict[uuid.UUID, int] = {}
    slots = {e.bundle_id: e.slot for e in kit.outbox()}
    for bid in bundles:
        data = kit.vault.get("outbox", slots[bid])
        cut = {0: 1, 1: 1000, 2: len(data) // 2, 3: len(data) - 1}[len(sent)]
        create = msgspec.json.encode(
            {
                "bundle_id": str(bid),
                "size": len(data),
                "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            }
        )
        assert (await client._call("POST", "/v1/uploads", create))[0] == 201
        status, _, headers = await client._call(
            "PATCH", f"/v1/uploads/{bid}", data[:cut], {"Upload-Offset": "0"}
        )
        assert status == 204 and headers["Upload-Offset"] == str(cut)
        sent[bid] = cut
    patches: list[int] = []
    orig = client.__class__._call

    async def spy(self, method, path, body=b"", headers=None):  # type: ignore[no-untyped-def]
        if method == "PATCH":
            patches.append(int((headers or {})["Upload-Offset"]))
        return await orig(self, method, path, body, headers)

    client.__class__._call = spy  # type: ignore[method-assign]
    try:
        report = await kit.sync(session)
    finally:
        client.__class__._call = orig  # type: ignore[method-assign]
    assert sorted(report.uploaded) == sorted(bundles) and report.failed == {}
    assert sorted(patches) == sorted(sent.values())  # each resumed exactly at its cut
    assert kit.vault.list("outbox") == [] and kit.outbox() == []


@pytest.mark.asyncio
async def test_attachments_travel_encrypted_and_arrive_whole(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, base, session = served
    kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    await kit.enroll_online(
        session, base, devices.create_token(project, "k", now=now(), actor="cli:tester"), "l"
    )
    await kit.fetch_forms(session)
    form = kit.form(FORM.id)
    d = kit.new_draft(form, "ko")
    d.answers = synthesize(form, random.Random(3), fixed={"consent": "yes"})
    audio = tmp_path / "kim-interview-recording.ogg"  # a revealing name, not kept
    audio.write_bytes(bytes(range(256)) * 1000)
    ref = kit.attach(d, str(audio))
    assert (ref.name, ref.media_type, ref.size) == ("audio-1.ogg", "audio/ogg", 256_000)
    rec = kit.finalize(d)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 synthetic")
    assert kit.attach_to(str(rec.record_id)[:8], str(scan)).name == "document-1.pdf"
    with pytest.raises(KitError, match="cannot tell what kind"):
        kit.attach_to(str(rec.record_id)[:8], str(tmp_path / "x.unknownext"))
    kit.seal()
    assert kit.vault.list("attachment") == []  # sealed: gone from the kit
    report = await kit.sync(session)
    assert report.failed == {}
    assert not (project.config.root / "attachments").exists()  # the server keeps no clear copy
    for name, src in (("audio-1.ogg", audio), ("document-1.pdf", scan)):
        out = tmp_path / f"out-{name}"
        assert (
            extract_attachment(project, rec.record_id, name, out, actor="cli:tester")
            == src.stat().st_size
        )
        assert out.read_bytes() == src.read_bytes()  # whole, from inside the sealed bundle
    names = project.store.read_sync(lambda c: c.execute("SELECT answers FROM records").fetchone())
    assert b"kim-interview" not in names[0]


@pytest.mark.asyncio
async def test_seal_respects_records_and_bytes_per_bundle(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, base, session = served
    kit = Kit(MemoryVault(), Ed25519PrivateKey.generate())
    await kit.enroll_online(
        session, base, devices.create_token(project, "k", now=now(), actor="cli:tester"), "l"
    )
    await kit.fetch_forms(session)
    for seed in range(5):
        interview(kit, seed)
    assert len(kit.seal(max_records=2)) == 3  # 2 + 2 + 1
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff" * 300_000)
    for seed in range(3):
        d = kit.new_draft(kit.form(FORM.id), "en")
        d.answers = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
        kit.attach(d, str(photo))
        kit.finalize(d)
    assert len(kit.seal(max_bytes=500_000)) == 3  # each 300 KB response alone
    report = await kit.sync(session)
    assert report.failed == {} and len(report.uploaded) == 6
