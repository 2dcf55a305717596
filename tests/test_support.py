"""The suite's harness (``tests/support/``) does what its docstrings say: a test project
on the store ``store_config`` chooses, the in-process server on the port it bound, the
device client enrolled either way and uploading."""

from __future__ import annotations

import io
import random
import socket
from pathlib import Path

import pytest
from support.bundles import make_record, seal_for
from support.project import FORM, NOW, new_project, reopen, store_config
from support.server import serve
from support.thread_server import ThreadServer
from support.uploader import DeviceClient, SyncDeviceClient, enroll_offline

from schemas.bundle import read_header
from schemas.survey.synth import synthesize
from syncserver.forms import publish_form
from syncserver.project import Project
from syncserver.web import create_app


def test_a_project_is_on_the_chosen_store_and_reopens(tmp_path: Path) -> None:
    p = new_project(tmp_path / "a", key_file=tmp_path / "a.key", publish=True)
    try:
        assert p.config.store == store_config(tmp_path / "a").store
        assert [f.form_id for f in p.store.read_sync(lambda tx: tx.forms.all())] == [FORM.id]
    finally:
        p.close()
    again = reopen(tmp_path / "a", key_file=tmp_path / "a.key")
    assert again.project_id == p.project_id
    again.close()


@pytest.mark.asyncio
async def test_serve_reports_the_port_it_bound_and_devices_upload(project: Project) -> None:
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    async with serve(project) as srv:
        port = int(srv.base.rsplit(":", 1)[1])
        assert port > 0
        with socket.socket() as s:  # the port is held: by the server, not released
            with pytest.raises(OSError):
                s.bind(("127.0.0.1", port))
        online, response = await srv.enroll()
        offline = DeviceClient.offline(srv.session, srv.base, project, label="laptop-2")
        assert response.log_origin == project.log_origin
        for seq, client in enumerate((online, offline), start=1):
            answers = synthesize(FORM, random.Random(seq), fixed={"consent": "yes"})
            data = seal_for(project, client.key, client.device_id, [make_record(FORM, answers)])
            bundle_id = read_header(io.BytesIO(data)).bundle_id
            receipt = await client.upload(bundle_id, data, chunk=100)
            assert receipt.body


def test_the_blocking_client_signs_as_the_async_one(project: Project) -> None:
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    with ThreadServer(lambda: create_app(project)) as server:
        key, device_id = enroll_offline(project)
        client = SyncDeviceClient(server.url, device_id, key)
        try:
            answers = synthesize(FORM, random.Random(3), fixed={"consent": "yes"})
            data = seal_for(project, key, device_id, [make_record(FORM, answers)])
            bundle_id = read_header(io.BytesIO(data)).bundle_id
            statuses = [r.status for r in client.upload(bundle_id, data)]
        finally:
            client.close()
    assert statuses == [201, 204, 204, 200]
