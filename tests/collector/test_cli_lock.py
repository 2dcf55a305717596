"""One collector command at a time per kit: a second one is refused with a clear
message, and nothing it would have done happens (issue #6: two kit processes at once
could overwrite each other's chain state)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.cli import main as collector


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEALSYNC_COLLECTOR_PASSPHRASE", "a synthetic kit passphrase")
    monkeypatch.setenv("SEALSYNC_INSECURE_FAST_KDF", "1")
    home = tmp_path / "kit"
    assert collector(["--home", str(home), "init"]) == 0
    return home


def test_a_second_command_on_the_same_kit_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # Another process holds the kit: a command running in a child, stopped mid-way.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
         str(home)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert collector(["--home", str(home), "seal"]) == 1
        err = capsys.readouterr().err
        assert "another collector command is using this kit" in err and "hint:" in err
    finally:
        holder.kill()  # the system drops a dead process's lock
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert collector(["--home", str(home), "status"]) == 0
    assert "finalized          0" in capsys.readouterr().out


def test_commands_one_after_another_release_the_kit(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        assert collector(["--home", str(home), "status"]) == 0
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once a command ends
    finally:
        os.close(fd)
    assert not any(p.name.startswith(".lock") for p in home.iterdir())  # no file of its own
