"""The key agent (`syncserver unlock` / `lock`): Argon2id once per session, the key only
in memory, only for its owner and its identity file, and only for a while."""

from __future__ import annotations

import base64
import os
import re
import select
import shutil
import socket
import stat
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from support.project import FAST_KDF, SECRET

from syncserver.cli import main
from syncserver.errors import IdentityError, PassphraseRejected
from syncserver.project import Project, agent
from syncserver.project import keys as identity
from syncserver.project.keys import Secret, load_identity, save_identity, unlock_key

assert SECRET.passphrase is not None
PASSPHRASE: str = SECRET.passphrase  # the conftest project's


class CountingArgon2id:
    """Argon2id, counting every derivation (the real one runs: the cost is real)."""

    calls = 0

    def __init__(self, **kw: Any) -> None:
        self._kdf = Argon2id(**kw)

    def derive(self, data: bytes) -> bytes:
        CountingArgon2id.calls += 1
        return bytes(self._kdf.derive(data))


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, short $XDG_RUNTIME_DIR (a Unix socket path has at most 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="ssrt-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    monkeypatch.delenv("SEALSYNC_PASSPHRASE", raising=False)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def proj(
    project: Project, tmp_path: Path, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path]]:
    """A project locked with a passphrase (cheap Argon2id parameters, counted), the
    passphrase in a file, no terminal, and every agent of it ended afterwards."""
    d = project.config.root
    pf = tmp_path / "passphrase"
    pf.write_text(PASSPHRASE + "\n")
    monkeypatch.setattr(identity, "Argon2id", CountingArgon2id)
    CountingArgon2id.calls = 0
    with open(os.devnull) as devnull:
        monkeypatch.setattr("sys.stdin", devnull)
        try:
            yield d, pf
        finally:
            agent.stop(d / "identity.sealed")


def unlock(proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str], *more: str) -> int:
    """``syncserver unlock``; returns the agent's pid."""
    d, pf = proj
    assert main(["unlock", "--dir", str(d), "--passphrase-file", str(pf), *more]) == 0
    out = capsys.readouterr().out
    m = re.search(r"held in memory by an agent \(pid (\d+)\), never on disk", out)
    assert m, out
    assert f"`syncserver lock --dir {d}` ends it sooner" in out
    return int(m[1])


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` (not our child) ends within ``timeout`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


# -- Argon2id once per session -------------------------------------------------------------


def test_a_second_command_within_the_time_does_not_run_argon2id(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d, pf = proj
    # Without an agent every command that needs the key derives it.
    assert (
        main(
            ["devices", "token", "--label", "kit 0", "--dir", str(d), "--passphrase-file", str(pf)]
        )
        == 0
    )
    assert CountingArgon2id.calls == 1
    pid = unlock(proj, capsys)
    assert CountingArgon2id.calls == 2  # unlock derives it once
    for label in ("kit 1", "kit 2", "kit 3"):
        # no secret given, no terminal: only the agent can have unlocked it
        assert main(["devices", "token", "--label", label, "--dir", str(d)]) == 0
        assert capsys.readouterr().out.startswith("sst1_")
    assert CountingArgon2id.calls == 2
    assert main(["lock", "--dir", str(d)]) == 0
    assert "locked: the key agent for" in capsys.readouterr().out
    assert wait_gone(pid)
    assert not agent.socket_path(d / "identity.sealed").exists()
    # locked: the next command has to be given the secret again
    assert main(["devices", "token", "--label", "kit 4", "--dir", str(d)]) == 1
    assert "no passphrase given" in capsys.readouterr().err
    assert main(["lock", "--dir", str(d)]) == 0
    assert f"no key agent was running for {d}" in capsys.readouterr().out


def test_unlock_with_a_wrong_passphrase_starts_nothing(
    proj: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d, _ = proj
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    assert main(["unlock", "--dir", str(d), "--passphrase-file", str(wrong)]) == 1
    assert capsys.readouterr().err == (
        "syncserver: passphrase or key file rejected\nhint: check it and try again\n"
    )
    assert not agent.socket_path(d / "identity.sealed").exists()
    for minutes in ("0", "481"):
        assert main(["unlock", "--dir", str(d), "--minutes", minutes]) == 1
        assert capsys.readouterr().err == (
            f"syncserver: --minutes {minutes} is out of range\n"
            "hint: an agent keeps the key 1 to 480 minutes\n"
        )
    assert main(["unlock", "--dir", str(tmp_path / "nowhere")]) == 1
    assert "no project in" in capsys.readouterr().err


# -- only for its owner ----------------------------------------------------------------------


class FakeConn:
    def __init__(self, uid: int | None) -> None:
        self.uid = uid

    def getsockopt(self, level: int, option: int, size: int) -> bytes:
        assert (level, option, size) == (socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        if self.uid is None:
            raise OSError("not a Unix socket")
        return struct.pack("3i", 4242, self.uid, 4242)


def test_the_peer_check_accepts_only_the_owner_uid() -> None:
    me = os.getuid()
    assert agent.peer_is_owner(FakeConn(me))  # type: ignore[arg-type]
    assert not agent.peer_is_owner(FakeConn(me + 1))  # type: ignore[arg-type]
    assert not agent.peer_is_owner(FakeConn(None))  # type: ignore[arg-type]
    assert agent.peer_is_owner(FakeConn(me + 1), me + 1)  # type: ignore[arg-type]


def serving(
    proj: tuple[Path, Path], **kw: Any
) -> tuple[agent.Agent, threading.Thread, list[str], identity.UnlockedKey]:
    """An agent for ``proj``'s identity, serving in a thread of this process."""
    d, _ = proj
    ident = d / "identity.sealed"
    key = unlock_key(ident, Secret(passphrase=PASSPHRASE))
    path = agent.socket_path(ident)
    agent._make_private(path.parent)
    listener = agent._listen(path)
    kw.setdefault("expires_at", 1e12)
    a = agent.Agent(key, ident.resolve(), listener, path, **kw)
    why: list[str] = []
    t = threading.Thread(target=lambda: why.append(a.serve()), daemon=True)
    t.start()
    return a, t, why, key


def test_the_agent_refuses_another_uid(proj: tuple[Path, Path]) -> None:
    d, _ = proj
    # An agent that believes it belongs to another user: this process is not its owner.
    a, t, why, _key = serving(proj, uid=os.getuid() + 1)
    try:
        assert agent.fetch(d / "identity.sealed") is None
        assert agent.seconds_left(d / "identity.sealed") is None
        assert not agent.stop(d / "identity.sealed")  # not even LOCK
        assert t.is_alive()
    finally:
        a.close()
        t.join(10)
    assert not t.is_alive()


def test_an_agent_of_the_owner_answers(proj: tuple[Path, Path]) -> None:
    d, _ = proj
    a, t, why, key = serving(proj)
    got = agent.fetch(d / "identity.sealed")
    assert got is not None and got.key == key.key and got.binding == key.binding
    assert agent.stop(d / "identity.sealed")
    t.join(10)
    assert why == ["locked"] and not agent.socket_path(d / "identity.sealed").exists()


def test_unlocking_again_replaces_the_agent(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d, _ = proj
    first = unlock(proj, capsys)
    second = unlock(proj, capsys, "--minutes", "30")
    assert first != second and wait_gone(first)
    assert 29 * 60 < (agent.seconds_left(d / "identity.sealed") or 0) <= 30 * 60
    assert main(["lock", "--dir", str(d)]) == 0 and wait_gone(second)


def test_an_agent_whose_socket_is_taken_over_ends(proj: tuple[Path, Path]) -> None:
    d, _ = proj
    a, t, why, _key = serving(proj)
    path = agent.socket_path(d / "identity.sealed")
    path.unlink()
    newcomer = agent._listen(path)  # another agent now answers at that path
    try:
        t.join(10)
        assert why == ["another agent took its place"]
        assert path.exists()  # the newcomer's socket is left alone
    finally:
        newcomer.close()


# -- only for a while, and only for its file ------------------------------------------------


def test_the_agent_ends_when_its_time_is_up(proj: tuple[Path, Path]) -> None:
    d, _ = proj
    now = [1000.0]
    a, t, why, key = serving(proj, expires_at=1000.0 + 15 * 60, clock=lambda: now[0])
    assert agent.seconds_left(d / "identity.sealed") == 900
    got = agent.fetch(d / "identity.sealed")
    assert got is not None and got.key == key.key
    now[0] += 15 * 60  # the time is up
    assert agent.fetch(d / "identity.sealed") is None
    t.join(10)
    assert why == ["time is up"]
    assert not agent.socket_path(d / "identity.sealed").exists()


def test_the_agent_ends_when_the_identity_file_changes(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d, pf = proj
    pid = unlock(proj, capsys)
    ident = load_identity(d / "identity.sealed", Secret(passphrase=PASSPHRASE))
    # sealed again (a new salt): the key the agent holds no longer opens it
    save_identity(d / "identity.sealed", ident, Secret(passphrase=PASSPHRASE), kdf=FAST_KDF)
    assert agent.fetch(d / "identity.sealed") is None
    assert wait_gone(pid)
    assert not agent.socket_path(d / "identity.sealed").exists()
    # the command falls back to the secret it is given
    argv = ["devices", "token", "--label", "k", "--dir", str(d), "--passphrase-file", str(pf)]
    assert main(argv) == 0


def test_an_unlocked_key_opens_only_its_own_file(proj: tuple[Path, Path]) -> None:
    d, _ = proj
    path = d / "identity.sealed"
    key = unlock_key(path, Secret(passphrase=PASSPHRASE))
    assert "UnlockedKey(" in repr(key) and key.key.hex() not in repr(Secret(unlocked=key))
    ident = load_identity(path, Secret(unlocked=key))
    with pytest.raises(IdentityError, match="needs the passphrase or key file itself"):
        save_identity(path, ident, Secret(unlocked=key))
    save_identity(path, ident, Secret(passphrase=PASSPHRASE), kdf=FAST_KDF)
    with pytest.raises(PassphraseRejected, match="for an earlier identity file"):
        load_identity(path, Secret(unlocked=key))


# -- never on disk, never in argv or the environment -----------------------------------------


def test_the_key_never_lands_on_disk_nor_in_argv(
    proj: tuple[Path, Path],
    runtime: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d, _ = proj
    monkeypatch.setenv("SEALSYNC_PASSPHRASE", PASSPHRASE)  # must not reach the agent either
    pid = unlock(proj, capsys)
    for label in ("kit 1", "kit 2"):
        assert main(["devices", "token", "--label", label, "--dir", str(d)]) == 0
    key = unlock_key(d / "identity.sealed", Secret(passphrase=PASSPHRASE)).key
    needles = [key, key.hex().encode(), base64.b64encode(key), PASSPHRASE.encode()]
    sock = agent.socket_path(d / "identity.sealed")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sock.parent).st_mode) == 0o700
    assert sock.parent == runtime / "sealsync"
    for root in (d, runtime):
        for p in root.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                assert not any(n in data for n in needles), p
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read()
    assert not any(n in cmdline for n in needles)
    assert b"syncserver.project.agent" in cmdline
    argv, env = agent._command(d / "identity.sealed", sock, 15)
    assert "SEALSYNC_PASSPHRASE" not in env
    assert argv[-6:] == [
        "--identity",
        str(d / "identity.sealed"),
        "--socket",
        str(sock),
        "--minutes",
        "15",
    ]
    assert main(["lock", "--dir", str(d)]) == 0
    assert wait_gone(pid) and not alive(pid)


def test_a_socket_directory_open_to_others_is_refused(
    proj: tuple[Path, Path], runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d, pf = proj
    (runtime / "sealsync").mkdir(mode=0o755)
    os.chmod(runtime / "sealsync", 0o755)
    assert main(["unlock", "--dir", str(d), "--passphrase-file", str(pf)]) == 1
    err = capsys.readouterr().err
    assert f"syncserver: {runtime / 'sealsync'} is not a private directory of this user\n" in err
    assert "hint: remove it" in err
