"""Ids from outside are matched whole (issue 11, "strings from outside are exact"): a
device id in a request header, a bundle or record id in a URL, an id on the admin
command line. ``uuid.UUID()`` also takes braces, ``urn:uuid:``, missing hyphens and a
final newline, so one id had many spellings; only the canonical one is accepted now."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
from support.project import SECRET, new_project
from support.server import Served, serve
from support.uploader import device_request

from schemas.wire import UploadCreate
from syncserver.cli import main as syncserver
from syncserver.project import Project


def spellings(u: uuid.UUID) -> list[str]:
    return [f"{{{u}}}", f"urn:uuid:{u}", u.hex, str(u).upper().replace("-", ""), f"{u}\n"]


@pytest_asyncio.fixture
async def served(project: Project) -> AsyncIterator[Served]:
    async with serve(project) as srv:
        yield srv


@pytest.mark.asyncio
async def test_a_device_id_header_in_another_spelling_is_refused(served: Served) -> None:
    base, session = served.base, served.session
    client, _ = await served.enroll(actor="cli:t")
    device = client.device_id
    bundle = uuid.uuid4()
    body = msgspec.json.encode(UploadCreate(bundle_id=bundle, size=10, sha256=bytes(32)))

    async def create(device_header: str) -> int:
        h = client.headers("POST", "/v1/uploads", body)
        h["Sealsync-Device"] = device_header.strip("\n")  # a header holds no newline
        async with session.post(base + "/v1/uploads", data=body, headers=h) as r:
            return r.status

    for other in spellings(device)[:4]:
        assert await create(other) == 401, other
    assert await create(str(device)) == 201
    # A bundle id in the URL: only its own spelling names the upload.
    for other in spellings(bundle)[:4]:
        path = f"/v1/uploads/{other}"
        h = client.headers("GET", path)
        async with session.get(base + path, headers=h) as r:
            assert r.status == 404, other


def test_an_id_on_the_admin_command_line_in_another_spelling_is_refused(
    tmp_path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    new_project(tmp_path / "p", actor="cli:t").close()
    (tmp_path / "pass").write_text(SECRET.passphrase or "", encoding="utf-8")
    some = uuid.uuid4()
    for other in spellings(some):
        code = syncserver(
            ["devices", "revoke", other, "--reason", "lost", "--dir", str(tmp_path / "p"),
             "--passphrase-file", str(tmp_path / "pass")]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and "not a device id" in err, (other, err)


@pytest.mark.asyncio
async def test_a_refused_body_names_its_field_without_quoting_the_pattern(
    served: Served,
) -> None:
    base, session = served.base, served.session
    _key, req = device_request(label="kit 7")
    body = msgspec.json.decode(msgspec.json.encode(req))
    body["label"] = "kit\n7"
    async with session.post(base + "/v1/enroll", data=msgspec.json.encode(body)) as r:
        assert r.status == 400
        message = msgspec.json.decode(await r.read())["error"]["message"]
    assert message == (
        "request body is not a valid EnrollmentRequest (Expected `str` of the allowed form"
        " - at `$.label`)"
    )
