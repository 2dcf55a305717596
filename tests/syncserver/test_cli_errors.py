"""The admin CLI as a new user meets it: one clear message per error, no traceback.

`syncserver run` on a port in use, Ctrl-C and SIGTERM on a foreground server, output into
a pipe whose reader has gone, what `init` prints, and an export over an earlier one.
Servers and pipes are real processes here."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from admin_cli_helpers import ROOT, SHIPPED, Admin, make_admin, now, valid_answers
from support.project import reopen
from support.syncserver_run import read_until

from syncserver.access.admin_tokens import create_token
from syncserver.audit.log import AuditLog
from syncserver.cli import main

SYNCSERVER = [sys.executable, "-m", "syncserver.cli"]


@pytest.fixture
def admin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Admin:
    return make_admin(tmp_path, capsys)


def env(**more: str) -> dict[str, str]:
    """The environment of a real run: no SEALSYNC_ settings, stdout buffered as usual."""
    e = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SEALSYNC_") and k != "PYTHONUNBUFFERED"
    }
    e["PYTHONPATH"] = str(ROOT)
    return {**e, **more}


# -- syncserver run ------------------------------------------------------------------------


def test_run_on_a_port_in_use_is_one_message(admin: Admin) -> None:
    with socket.socket() as held:  # what another server would hold
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        argv = ["run", "--dir", str(admin.dir), "--key-file", str(admin.key), "--port", str(port)]
        r = subprocess.run(
            [*SYNCSERVER, *argv], capture_output=True, text=True, env=env(), timeout=120
        )
    assert r.returncode == 1
    assert r.stderr == (
        f"syncserver: 127.0.0.1:{port} is already in use: another syncserver?\n"
        "hint: stop it or choose --port\n"
    )
    assert "serving" not in r.stdout


def test_run_on_an_address_not_of_this_machine_is_one_message(admin: Admin) -> None:
    argv = ["run", "--dir", str(admin.dir), "--key-file", str(admin.key), "--port", "0"]
    r = subprocess.run(
        [*SYNCSERVER, *argv, "--host", "192.0.2.1"],  # TEST-NET-1: never local
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr == (
        "syncserver: 192.0.2.1 is not an address of this machine\n"
        "hint: choose --host 127.0.0.1, or an address this machine has\n"
    )


def workers_of(pid: int) -> list[int]:
    """The ingest worker processes (multiprocessing spawn children) of process ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            found.append(int(entry))
    return found


@pytest.mark.parametrize(
    ("signum", "to_group", "code"),
    [
        (signal.SIGINT, True, 130),  # Ctrl-C: the terminal signals the whole process group
        (signal.SIGTERM, False, 0),  # a service manager's stop
    ],
)
def test_a_signal_stops_the_server_cleanly(
    admin: Admin, tmp_path: Path, signum: int, to_group: bool, code: int
) -> None:
    # A bundle received but not yet ingested: the server ingests it at start-up, in an
    # ingest worker process, which is then running when the signal comes.
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    data, _ = admin.seal(dkey, dev, valid_answers())
    admin.deliver(data, dev, ingest=False)
    err_path = tmp_path / "stderr"
    argv = ["run", "--dir", str(admin.dir), "--key-file", str(admin.key), "--port", "0"]
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [*SYNCSERVER, *argv],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env(SEALSYNC_SERVER_INGEST_PROCESSES="1"),
            start_new_session=True,
        )
    try:
        assert proc.stdout is not None
        out = read_until(proc.stdout.fileno(), b"(Ctrl-C to stop)\n", timeout=60)
        assert b"serving project" in out, (out, err_path.read_text())
        workers = workers_of(proc.pid)
        assert workers, "the start-up ingest left no worker running"
        if to_group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    stderr = err_path.read_text()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert rest.decode().splitlines()[-1] == "stopped: ingest workers ended, store closed"
    assert not any(os.path.exists(f"/proc/{w}") for w in workers)  # stopped, not orphaned
    assert not (admin.dir / "store.db-wal").exists()  # the store was closed cleanly
    # and what it ingested at start-up is there
    assert "quarantine is empty" in admin.ok("quarantine", "list")
    # the address it said it serves on is the one it got (port 0: any free port)
    assert re.search(rb"on http://127\.0\.0\.1:[1-9]\d* \(Ctrl-C to stop\)\n", out), out


# -- a closed pipe -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["audit", "show"], ["devices", "list"], ["quarantine", "list"]],
    ids=["audit-show", "devices-list", "quarantine-list"],
)
def test_writing_to_a_pipe_whose_reader_has_gone_is_quiet(admin: Admin, argv: list[str]) -> None:
    proc = subprocess.Popen(
        [*SYNCSERVER, *argv, "--dir", str(admin.dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before anything is written: EPIPE is certain
    _, err = proc.communicate(timeout=60)
    assert err == b""
    assert proc.returncode == 128 + signal.SIGPIPE


def test_audit_show_into_head_is_quiet(admin: Admin) -> None:
    """`syncserver audit show | head -1`, with far more lines than a pipe buffers (64 KiB),
    so that the writer is still writing when `head` leaves."""
    project = admin.open()
    try:
        for i in range(700):
            create_token(project, "auditor", f"auditor {i:03d}", actor="cli:tester", now=now())
    finally:
        project.close()
    cmd = " ".join([*SYNCSERVER, "audit", "show", "--limit", "0", "--dir", str(admin.dir)])
    r = subprocess.run(
        ["bash", "-c", f"{cmd} | head -1; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    first, code = r.stdout.splitlines()
    assert " init " in first and code == "141"
    assert r.stderr == ""


# -- syncserver init -----------------------------------------------------------------------


def test_init_prints_the_log_key_to_pin_and_every_next_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k"
    key.write_bytes(os.urandom(32))
    d = tmp_path / "new project"  # a space: the commands printed must quote it
    assert main(["init", str(d), "--key-file", str(key)]) == 0
    out = capsys.readouterr().out.splitlines()
    project = reopen(d, key_file=key)
    try:
        vkey = AuditLog(project).verifier_key
    finally:
        project.close()
    assert f"  log verifier key  {vkey}" in out
    q = f"'{d}'"
    shipped = ROOT / "schemas" / "forms" / "escapee-interview.toml"
    assert out[out.index("next:") :] == [
        "next:",
        f"  1. publish a form:       syncserver forms publish {shipped} --dir {q}",
        f"  2. enroll a device:      syncserver devices token --label NAME --dir {q}",
        f"  3. run the server:       syncserver run --dir {q}",
        f"  4. verify the audit log: syncserver audit verify --dir {q} --key {vkey}",
    ]
    # the printed steps work as printed
    assert main(["forms", "publish", str(shipped), "--dir", str(d), "--key-file", str(key)]) == 0
    assert main(["audit", "verify", "--dir", str(d), "--key", vkey]) == 0
    assert f"key {vkey} (pinned with --key)" in capsys.readouterr().out


# -- export --------------------------------------------------------------------------------


def test_an_export_does_not_overwrite_an_earlier_one(admin: Admin, tmp_path: Path) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    data, _ = admin.seal(dkey, dev, valid_answers())
    admin.deliver(data, dev)
    out = tmp_path / "export"
    admin.ok("export", "--form", "escapee-interview", "--out", str(out))
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "escapee-interview.csv" in first
    entries = admin.ok("audit", "show", "--kind", "export", "--limit", "0", secret=False)
    assert entries.count("\n") == 1

    code, stdout, err = admin.run("export", "--form", "escapee-interview", "--out", str(out))
    assert (code, stdout) == (1, "")
    assert err.startswith(f"syncserver: {out} already holds an export (escapee-interview.csv, ")
    assert err.endswith(
        "nothing was written\n"
        "hint: choose a new --out directory, or add --overwrite to replace those files\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # untouched, no temp files
    entries = admin.ok("audit", "show", "--kind", "export", "--limit", "0", secret=False)
    assert entries.count("\n") == 1  # a refused export is not logged

    admin.ok("export", "--form", "escapee-interview", "--out", str(out), "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == sorted(first)
    entries = admin.ok("audit", "show", "--kind", "export", "--limit", "0", secret=False)
    assert entries.count("\n") == 2


def test_an_export_refuses_a_file_that_appeared_while_it_ran(
    admin: Admin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncserver.analysis import export

    admin.ok("forms", "publish", str(SHIPPED))
    out = tmp_path / "export"
    real = export._Files.finish

    def finish_then_someone_writes(self: export._Files) -> None:
        real(self)
        (out / "escapee-interview.codebook.csv").write_text("someone else's\n")

    monkeypatch.setattr(export._Files, "finish", finish_then_someone_writes)
    code, _, err = admin.run("export", "--form", "escapee-interview", "--out", str(out))
    assert code == 1 and "already holds an export (escapee-interview.codebook.csv)" in err
    assert [p.name for p in out.iterdir()] == ["escapee-interview.codebook.csv"]
    assert (out / "escapee-interview.codebook.csv").read_text() == "someone else's\n"
