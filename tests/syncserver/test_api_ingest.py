"""Ingest outcomes over the real HTTP server on 127.0.0.1: expired devices, invalid
records beside valid ones, versions and conflicts, and every bundle vector."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import importlib.util
import io
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
from support.bundles import make_record, seal_for
from support.project import NOW
from support.server import serve
from support.uploader import DeviceClient
from support.vectors import vector_delivery, vector_project

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from syncserver.forms import publish_form
from syncserver.project import Project
from syncserver.web._base import SERVICE

FORM = shipped_form("escapee-interview")
VECTORS = sorted((Path(__file__).resolve().parents[1] / "vectors" / "bundle").glob("*.json"))


def _generator() -> ModuleType:
    """The vector generator, for the vector devices' private keys."""
    path = VECTORS[0].parents[1] / "generate_bundle_vectors.py"
    spec = importlib.util.spec_from_file_location("generate_bundle_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


class Server:
    """The project served in-process (``support.server``), with what these tests ask."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._serving = serve(project)

    async def __aenter__(self) -> Server:
        served = await self._serving.__aenter__()
        self.base, self.session, self.app = served.base, served.session, served.app
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._serving.__aexit__(*exc)

    async def device(self, when: datetime.datetime | None = None) -> DeviceClient:
        """A device enrolled online, or offline at ``when``."""
        if when is not None:
            return DeviceClient.offline(self.session, self.base, self.project, now=when)
        client, _ = await DeviceClient.enroll(self.session, self.base, self.project)
        return client

    def count(self, sql: str) -> object:
        return self.project.store.read_sync(lambda c: c.execute(sql).fetchall())

    async def matched(self) -> None:
        """Wait until the background matcher has caught up with every upload."""
        service = self.app[SERVICE]
        assert await asyncio.to_thread(service.matching.wait_idle, 30)


def answers(seed: int) -> dict:  # type: ignore[type-arg]
    return synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})


async def send(
    client: DeviceClient,
    project: Project,
    records: list,  # type: ignore[type-arg]
    seq: int = 1,
) -> None:
    data = seal_for(project, client.key, client.device_id, records, seq=seq)
    await client.upload(read_header(io.BytesIO(data)).bundle_id, data)


@pytest.mark.asyncio
async def test_expired_device_invalid_records_versions_and_conflicts(project: Project) -> None:
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    async with Server(project) as srv:
        days = project.config.devices.certificate_days
        expired = await srv.device(
            when=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days + 1)
        )
        await send(expired, project, [make_record(FORM, answers(1))])
        assert srv.count("SELECT reason FROM quarantine") == [
            ("the sealing device's certificate had expired",)
        ]

        client = await srv.device()
        bad = answers(2)
        bad["no_such_question"] = 1
        good, broken = make_record(FORM, answers(3)), make_record(FORM, bad)
        await send(client, project, [good, broken], seq=1)
        problems = srv.count(
            f"SELECT problems FROM quarantine WHERE record_id = x'{broken.record_id.hex}'"
        )
        [(raw,)] = problems  # type: ignore[misc]
        assert [(p["path"], p["code"]) for p in msgspec.msgpack.decode(raw)] == [
            ("$.no_such_question", "unknown_field")
        ]
        assert srv.count("SELECT COUNT(*) FROM records") == [(1,)]

        v2 = make_record(FORM, answers(4), record_id=good.record_id, version=2)
        await send(client, project, [v2], seq=2)
        other = make_record(FORM, answers(5), record_id=good.record_id, version=2)
        await send(client, project, [other], seq=3)
        assert srv.count("SELECT version, status FROM records ORDER BY version, status") == [
            (1, "superseded"),
            (2, "conflict"),
            (2, "conflict"),
        ]


@pytest.mark.asyncio
async def test_two_interviews_of_one_person_from_two_kits_become_one_respondent(
    project: Project,
) -> None:
    """Receipts do not wait for matching; the background matcher links the two
    interviews soon after, and the review queue gets the unclear one."""
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    fixed = {"consent": "yes", "sex": "male", "birth_year": 1958, "departure_year": 2011,
             "province_of_origin": "chagang"}  # fmt: skip

    def interview(name: str, seed: int, **more: object) -> object:
        a = synthesize(FORM, random.Random(seed), fixed={**fixed, "respondent_name": name, **more})
        return make_record(FORM, a)

    async with Server(project) as srv:
        kit1, kit2 = await srv.device(), await srv.device()
        first, again = interview("제갈무진", 1), interview("Chegal Mujin", 2)
        renamed = interview("제갈도윤", 3, birth_year=1959)
        await send(kit1, project, [first], seq=1)
        await send(kit2, project, [again], seq=1)
        await send(kit2, project, [renamed], seq=2)
        await srv.matched()
        clusters = srv.count("SELECT record_id, cluster_id FROM respondents ORDER BY seq")
        assert len(clusters) == 3  # type: ignore[arg-type]
        (_, c1), (_, c2), (_, c3) = clusters  # type: ignore[misc]
        assert c1 == c2 != c3
        assert srv.count("SELECT levels, state FROM respondent_candidates") == [
            ("surname/1/0/same", "open")
        ]


@pytest.mark.asyncio
@pytest.mark.slow
async def test_every_vector_over_http(tmp_path: Path) -> None:
    """Each vector is uploaded by the device that sealed it (its device A, for those
    that do not open) to a project holding the vector's recipient key, project id and
    devices: invalid ones are received, quarantined with exactly the vector's reason,
    and nothing else changes."""
    assert len(VECTORS) > 60
    gen = _generator()
    keys = {d.device_id: d.private for d in gen.KNOWN_DEVICES}
    for path in VECTORS:
        v = json.loads(path.read_text())
        data = base64.b64decode(v["bundle"])
        if not data:
            continue  # an empty upload is refused before it exists (size >= 1)
        project = vector_project(tmp_path / v["name"], v)
        root = tmp_path / v["name"]
        try:
            async with Server(project) as srv:
                sealer, bid, why = vector_delivery(v, project.project_id)
                uploader = DeviceClient(srv.session, srv.base, sealer, keys[sealer])
                receipt = await uploader.upload(bid, data)
                assert receipt.body, v["name"]
                states = srv.count("SELECT state FROM bundles")
                if v["expect"] == "success":
                    assert states == [("accepted",)], v["name"]
                else:
                    assert why is not None
                    reason = f"bundle could not be opened: {why.value}"
                    assert states == [("quarantined",)], v["name"]
                    assert srv.count("SELECT reason FROM quarantine") == [(reason,)], v["name"]
                    assert srv.count("SELECT COUNT(*) FROM records") == [(0,)], v["name"]
                    assert hashlib.sha256(data).hexdigest() in {
                        b.name for b in (root / "blobs").iterdir()
                    }  # the bytes are kept
        finally:
            project.close()
