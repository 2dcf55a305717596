"""Opening and validating bundles in worker processes gives exactly what the server's
own thread gives, and a dead worker is replaced."""

from __future__ import annotations

import hashlib
import io
import os
import signal
from pathlib import Path

import msgspec
from respondent_helpers import Env, interview
from server_helpers import seal_for

from schemas.bundle import read_header
from syncserver._prepare import Preparer, PreparerPool, pool_for_project
from syncserver.project import Project


def stored_bundle(env: Env, names: list[str], tamper: bool = False) -> Path:
    records = [interview(n, seed=i) for i, n in enumerate(names)]
    data = seal_for(env.project, env.key, env.device, records)
    if tamper:
        data = data[:-40] + bytes(40)
    path = env.area.blob(hashlib.sha256(data).digest())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert read_header(io.BytesIO(data)).bundle_id
    return path


def test_a_worker_process_prepares_what_the_thread_prepares(project: Project) -> None:
    env = Env.create(project)
    blob = stored_bundle(env, ["독고세린", "남궁하윤"])
    inline = Preparer.for_project(project).prepare(blob)
    pool = PreparerPool(Preparer.for_project(project), _args(project), 1)
    try:
        remote = pool.prepare(blob)
        assert [r.record.record_id for r in remote.valid] == [
            r.record.record_id for r in inline.valid
        ]
        for a, b in zip(remote.valid, inline.valid, strict=True):
            assert (a.plain, a.sha256, a.tokens, a.postings) == (
                b.plain,
                b.sha256,
                b.tokens,
                b.postings,
            )
            assert a.identity == b.identity
            assert a.sealed is not None and b.sealed is not None  # random nonces: both sealed
        assert (remote.device_id, remote.device_seq, remote.sha256) == (
            inline.device_id,
            inline.device_seq,
            inline.sha256,
        )
        bad = pool.prepare(stored_bundle(env, ["리련화"], tamper=True))
        assert bad.reason is not None and bad.reason.startswith("bundle could not be opened")
        assert bad.valid == [] and bad.bad == []
    finally:
        pool.close()


def test_a_dead_worker_is_replaced(project: Project) -> None:
    env = Env.create(project)
    blob = stored_bundle(env, ["독고세린"])
    pool = PreparerPool(Preparer.for_project(project), _args(project), 1)
    try:
        assert len(pool.prepare(blob).valid) == 1
        executor = pool._executor()
        for pid in list(executor._processes):  # the worker dies (OOM killer, a crash)
            os.kill(pid, signal.SIGKILL)
        assert len(pool.prepare(blob).valid) == 1  # a new pool took over
        assert pool._executor() is not executor
    finally:
        pool.close()


def test_the_server_setting(project: Project) -> None:
    server = project.config.server
    assert server.ingest_processes == -1  # the default: one worker per core
    project.config = msgspec.structs.replace(
        project.config, server=msgspec.structs.replace(server, ingest_processes=0)
    )
    assert repr(pool_for_project(project)) == "PreparerPool(0 processes)"
    project.config = msgspec.structs.replace(
        project.config, server=msgspec.structs.replace(server, ingest_processes=3)
    )
    assert repr(pool_for_project(project)) == "PreparerPool(3 processes)"


def _args(project: Project) -> tuple[bytes, bytes, str, str]:
    from syncserver._prepare import _args as args

    return args(project)
