"""A large attachment goes from file to vault to bundle to server in bounded memory."""

from __future__ import annotations

import datetime
import hashlib
import random
import tracemalloc
from pathlib import Path

import pytest
from support.project import new_project
from support.server import serve

from collector import keystore
from collector.kit import Kit
from collector.vault import Vault
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from syncserver.access import devices
from syncserver.records.attachments import extract_attachment

FORM = shipped_form("escapee-interview")
MIB = 1024 * 1024


@pytest.mark.slow
@pytest.mark.asyncio
async def test_64_mib_recording_seals_and_syncs_in_bounded_memory(tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    project = new_project(tmp_path / "srv", publish=True, published_at=now)
    big = tmp_path / "recording.ogg"
    with big.open("wb") as f:
        block = random.Random(1).randbytes(MIB)
        for _ in range(64):
            f.write(block)
    keys = keystore.create(
        tmp_path / "kit",
        "pass phrase",
        kdf=keystore.KdfParams(memory_kib=1024, iterations=1, lanes=1),
    )
    kit = Kit(Vault(tmp_path / "kit", keys.data_key), keys.device_key)
    try:
        async with serve(project, timeout=120) as srv:
            session, base = srv.session, srv.base
            await kit.enroll_online(
                session, base, devices.create_token(project, "k", now=now, actor="cli:tester"), "l"
            )
            await kit.fetch_forms(session)
            d = kit.new_draft(kit.form(FORM.id), "ko")
            d.answers = synthesize(FORM, random.Random(2), fixed={"consent": "yes"})
            tracemalloc.start()
            ref_name = kit.attach(d, str(big)).name
            rec = kit.finalize(d)
            kit.seal()
            report = await kit.sync(session)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out = tmp_path / "out.bin"
            assert (
                extract_attachment(project, rec.record_id, ref_name, out, actor="cli:tester")
                == 64 * MIB
            )
    finally:
        project.close()
    assert report.failed == {} and len(report.uploaded) == 1
    print(f"peak traced memory: {peak / MIB:.1f} MiB for a 64 MiB attachment")
    assert peak < 24 * MIB, f"peak {peak / MIB:.1f} MiB for a 64 MiB attachment"
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
