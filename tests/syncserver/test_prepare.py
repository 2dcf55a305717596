"""Opening and validating bundles in worker processes gives exactly what the server's
own thread gives, and a dead worker is replaced."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgspec
from respondent_helpers import Env, interview
from support.bundles import seal_for

from schemas.bundle import read_header
from syncserver.ingest._prepare import Preparer, PreparerPool, pool_for_project, worker_preparer
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
        assert [r.record_id for r in remote.valid] == [r.record_id for r in inline.valid]
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


def _args(project: Project) -> tuple[bytes, bytes, str, str, bytes]:
    from syncserver.ingest._prepare import _args as args

    return args(project)


def _serve_then_hang(args: tuple[bytes, bytes, str, str, bytes], blob: str, pids: Any) -> None:
    pool = PreparerPool(worker_preparer(*args), args, 1)
    pool.prepare(Path(blob))  # starts the worker
    pids.put(list(pool._executor()._processes))
    time.sleep(120)  # until killed


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"  # exited, waiting for its new parent to reap it


def test_workers_do_not_outlive_a_killed_server(project: Project) -> None:
    """The workers hold the project's private keys: SIGKILL of the server (no time to
    stop its pool) must not leave them running."""
    env = Env.create(project)
    blob = stored_bundle(env, ["독고세린"])
    ctx = multiprocessing.get_context("spawn")
    pids = ctx.Queue()
    server = ctx.Process(target=_serve_then_hang, args=(_args(project), str(blob), pids))
    server.start()
    try:
        workers = pids.get(timeout=60)
        assert workers and not any(_gone(p) for p in workers)
    finally:
        server.kill()
        server.join(10)
        pids.close()
    deadline = time.monotonic() + 10
    while not all(_gone(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(p) for p in workers)
