"""`collector` as a process: output to a pipe closed early, and Ctrl-C (issue 11).

`collector status | head -1` ended in a BrokenPipeError traceback; Ctrl-C in any
command ended in a KeyboardInterrupt traceback. Now a closed pipe ends the command
quietly (exit 141, as a program stopped by SIGPIPE), and SIGINT ends it with one line
saying what state the kit is in (exit 130). Real subprocesses, real signals; the pipe's
reading end is closed before the command writes, and SIGINT is sent once the command is
known to be waiting on the server (its connection has been accepted)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "collector"))
from kit_cli_helpers import (  # noqa: E402
    ACTOR,
    PASS_ENV,
    PASSPHRASE,
    answered_draft,
    enroll_kit_offline,
    new_kit,
    open_kit,
)
from support.project import new_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SEALSYNC_")}
    return {**e, PASS_ENV: PASSPHRASE, "PYTHONPATH": str(ROOT)}


def command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "collector.cli", "--home", str(home), *args]


@pytest.mark.parametrize(
    ("args", "code"),
    [(["status"], 141), (["drafts"], 141), (["--help"], 0), (["drafts", "--help"], 0)],
)
def test_output_to_a_closed_pipe_ends_quietly(tmp_path: Path, args: list[str], code: int) -> None:
    """A command's output: exit 141, as if stopped by SIGPIPE; help (argparse's own
    output, which ignores a closed pipe): exit 0. Either way nothing on stderr."""
    home = tmp_path / "kit"
    kit = new_kit(home)
    for seed in range(3):
        answered_draft(kit, seed)
    before = {kind: kit.vault.list(kind) for kind in ("draft", "state", "form")}
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes its first line
    try:
        done = subprocess.run(
            command(home, *args), stdout=write, stderr=subprocess.PIPE, env=env(), timeout=60
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (code, b"")
    kit = open_kit(home)
    assert {kind: kit.vault.list(kind) for kind in ("draft", "state", "form")} == before


def test_ctrl_c_during_sync_ends_in_one_line_and_keeps_every_bundle(tmp_path: Path) -> None:
    home = tmp_path / "kit"
    kit = new_kit(home)
    with socket.socket() as server:  # accepts the connection, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(60)
        project = new_project(tmp_path / "srv", actor=ACTOR)
        enroll_kit_offline(kit, project, f"http://127.0.0.1:{server.getsockname()[1]}")
        project.close()
        for seed in range(2):
            kit.finalize(answered_draft(kit, seed))
        sealed = kit.seal(max_records=1)
        proc = subprocess.Popen(
            command(home, "sync"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env()
        )
        try:
            conn, _ = server.accept()  # the upload has started: the command waits on us
            with conn:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130
    assert err.decode() == (
        "collector: interrupted; nothing was lost: every bundle without a verified receipt "
        "stays on this laptop; run `collector sync` again\n"
    )
    assert b"Traceback" not in out
    kit = open_kit(home)
    assert [e.bundle_id for e in kit.outbox()] == sealed and kit.vault.list("receipt") == []
