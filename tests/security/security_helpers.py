"""Shared values and builders for the threat model's own tests (docs/threat-model.md),
imported as ``security_helpers`` (a module name no other test directory uses).

The builders of the server tests (``tests/syncserver/server_helpers.py``,
``device_client.py``) are shared, not copied."""

from __future__ import annotations

import datetime
import io
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncserver"))

from device_client import DeviceClient  # noqa: E402
from server_helpers import FAST_KDF, SECRET, device_request, make_record, seal_for  # noqa: E402

from schemas.bundle import read_header  # noqa: E402
from schemas.forms import shipped_form  # noqa: E402
from schemas.survey.synth import synthesize  # noqa: E402
from schemas.wire import EnrollmentResponse  # noqa: E402
from syncserver.access.devices import create_token  # noqa: E402
from syncserver.project import Project  # noqa: E402

__all__ = [
    "FAST_KDF",
    "FORM",
    "NAME",
    "NARRATIVE",
    "SECRET",
    "DeviceClient",
    "Server",
    "answers",
    "device_request",
    "make_record",
    "now",
    "seal_for",
]

FORM = shipped_form("escapee-interview")
#: Distinctive synthetic answers, searched for in bytes. Never a real name.
NAME = "합성보안이름"
NARRATIVE = "synthetic-narrative-7f3a: held at a synthetic place"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def answers(seed: int) -> dict:  # type: ignore[type-arg]
    a = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
    a["respondent_name"] = NAME
    a["closing_notes"] = NARRATIVE
    return a


@dataclass
class Server:
    project: Project
    base: str
    session: aiohttp.ClientSession

    async def enroll(self, label: str = "laptop-1") -> tuple[DeviceClient, EnrollmentResponse]:
        token = create_token(self.project, label, now=now(), actor="cli:tester")
        key, req = device_request(label=label, token=token)
        r = await self.session.post(self.base + "/v1/enroll", data=msgspec.json.encode(req))
        assert r.status == 201, await r.text()
        resp = msgspec.json.decode(await r.read(), type=EnrollmentResponse)
        device_id = uuid.UUID(bytes=msgspec.msgpack.decode(resp.certificate.body)["device_id"])
        return DeviceClient(self.session, self.base, device_id, key), resp

    def bundle(
        self, client: DeviceClient, *, seq: int = 1, seed: int = 0, prev: bytes = bytes(32)
    ) -> tuple[uuid.UUID, bytes]:
        recs = [make_record(FORM, answers(seed))]
        data = seal_for(self.project, client.key, client.device_id, recs, seq=seq, prev=prev)
        return read_header(io.BytesIO(data)).bundle_id, data

    def count(self, sql: str) -> int:
        return int(self.project.store.read_sync(lambda c: c.execute(sql).fetchone())[0])
