"""The key agent: an unlocked project key kept in memory for a while (``syncserver unlock``).

Every admin command that signs, decrypts or writes needs the key that opens
``identity.sealed``, and deriving it from the passphrase costs Argon2id each time
(seconds on a small server). ``syncserver unlock`` derives it once
(:func:`~syncserver.project.keys.unlock_key`) and starts an agent, a small process in the
manner of ssh-agent, that holds it in memory and hands it to the commands that follow;
``syncserver lock`` ends it. Nothing is written to disk in clear.

Where
    One Unix socket per identity file, ``agent-<SHA-256 of its path>.sock``, in
    ``$XDG_RUNTIME_DIR/sealsync/`` (a per-user tmpfs on systemd hosts) or else in
    ``DIR/.agent/``. The directory is made 0700 and refused unless it is this user's and
    private; the socket is 0600.
Who
    The agent answers only a peer whose uid (``SO_PEERCRED``) is its own, and a command
    takes a key only from an agent whose uid is its own. The agent is made non-dumpable
    (no core file; other processes of the same user cannot ptrace it or read its memory).
What
    The key is bound to the identity file it opens (:class:`~.identity.UnlockedKey`): a
    command asks with the SHA-256 of the file as it reads it, and gets the key only if
    that is the file the key was derived for. The agent ends when that file changes or
    goes, when its time is up (:data:`DEFAULT_MINUTES`, at most :data:`MAX_MINUTES`,
    counted on the boot clock so that a suspended machine does not stretch it), and on
    ``LOCK``.
How the key travels
    From ``syncserver unlock`` to the agent through a pipe on its standard input, never in
    its arguments or environment (the agent's environment is the caller's without
    ``SEALSYNC_PASSPHRASE``); from the agent to a command over the socket.

The protocol: one request per connection, one line each way::

    GET <binding, 64 hex digits>\\n  ->  "KEY " + the 32 key bytes, or "NO\\n"
    PING\\n                          ->  "OK <seconds left>\\n"
    LOCK\\n                          ->  "OK\\n", and the agent ends
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import hmac
import os
import resource
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SyncServerError
from .keys import MAX_IDENTITY_BYTES, UnlockedKey, identity_binding

__all__ = [
    "DEFAULT_MINUTES",
    "MAX_MINUTES",
    "Agent",
    "AgentError",
    "Started",
    "fetch",
    "peer_is_owner",
    "seconds_left",
    "socket_path",
    "start",
    "stop",
]

DEFAULT_MINUTES = 15
MAX_MINUTES = 8 * 60
#: How often a waiting agent looks at the clock and at the identity file.
POLL_SECONDS = 1.0
#: A request or answer never takes longer than this on a local socket.
IO_SECONDS = 5.0
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
_PR_SET_DUMPABLE = 4


class AgentError(SyncServerError):
    """The key agent cannot be started or reached."""

    code = "agent"


def _boottime() -> float:
    """Seconds on a clock that keeps counting while the machine is suspended."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # not Linux
        return time.monotonic()


# -- where -------------------------------------------------------------------------------


def socket_path(identity: Path) -> Path:
    """The socket of the agent for the identity file at ``identity``."""
    resolved = identity.resolve()
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = (
        Path(runtime) / "sealsync"
        if os.path.isabs(runtime) and os.path.isdir(runtime)
        else resolved.parent / ".agent"
    )
    name = hashlib.sha256(os.fsencode(str(resolved))).hexdigest()[:24]
    return base / f"agent-{name}.sock"


def _private(directory: Path) -> bool:
    """Whether ``directory`` is a real directory of this user that no one else may enter."""
    try:
        st = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _make_private(directory: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    if not _private(directory):
        raise AgentError(
            f"{directory} is not a private directory of this user",
            hint=f"remove it (`rm -r {directory}`); sealsync makes it again with mode 0700",
        )


# -- who -----------------------------------------------------------------------------------


def peer_is_owner(conn: socket.socket, uid: int | None = None) -> bool:
    """Whether the process at the other end of the Unix socket ``conn`` runs as ``uid``
    (default: this process's uid), by the kernel's word (``SO_PEERCRED``)."""
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        _pid, peer_uid, _gid = _UCRED.unpack(raw)
    except (OSError, struct.error):
        return False
    return bool(peer_uid == (os.getuid() if uid is None else uid))


# -- the commands' side ---------------------------------------------------------------------


def _read_line(conn: socket.socket, limit: int) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = conn.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_all(conn: socket.socket, limit: int) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = conn.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _ask(path: Path, request: bytes) -> bytes | None:
    """The agent's answer to one request, or None if there is no agent of ours there."""
    if len(os.fsencode(str(path))) > _SUN_PATH_MAX or not _private(path.parent):
        return None
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(IO_SECONDS)
        conn.connect(str(path))
        if not peer_is_owner(conn):
            return None
        conn.sendall(request)
        return _read_all(conn, 64)
    except OSError:
        return None
    finally:
        conn.close()


def fetch(identity: Path) -> UnlockedKey | None:
    """The unlocked key for the identity file at ``identity`` from its agent, or None
    (no agent, another user's, or one unlocked for an earlier version of the file)."""
    try:
        with open(identity, "rb") as f:
            data = f.read(MAX_IDENTITY_BYTES + 1)
    except OSError:
        return None
    binding = identity_binding(data)
    reply = _ask(socket_path(identity), b"GET " + binding.hex().encode("ascii") + b"\n")
    if reply is None or len(reply) != 36 or not reply.startswith(b"KEY "):
        return None
    return UnlockedKey(key=reply[4:], binding=binding)


def seconds_left(identity: Path) -> int | None:
    """How long the agent for ``identity`` keeps its key, or None if none is running."""
    reply = _ask(socket_path(identity), b"PING\n")
    if reply is None or not reply.startswith(b"OK ") or not reply.endswith(b"\n"):
        return None
    try:
        return int(reply[3:-1])
    except ValueError:
        return None


def stop(identity: Path) -> bool:
    """End the agent for ``identity``; False if none was running."""
    return _ask(socket_path(identity), b"LOCK\n") == b"OK\n"


@dataclass(frozen=True)
class Started:
    pid: int
    socket: Path
    minutes: int


def _command(identity: Path, sock: Path, minutes: int) -> tuple[list[str], dict[str, str]]:
    """The agent's argv and environment: paths and a number only, never a secret."""
    argv = [sys.executable, "-m", "syncserver.project.agent", "--identity", str(identity)]
    argv += ["--socket", str(sock), "--minutes", str(minutes)]
    env = {k: v for k, v in os.environ.items() if k != "SEALSYNC_PASSPHRASE"}
    here = str(Path(__file__).resolve().parent.parent)  # the sealsync the caller runs
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return argv, env


def start(identity: Path, unlocked: UnlockedKey, minutes: int = DEFAULT_MINUTES) -> Started:
    """Start an agent holding ``unlocked`` for ``minutes`` (ending any earlier one for the
    same identity file). The key goes to it through a pipe; returns once it listens."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise AgentError(
            f"an agent keeps a key 1 to {MAX_MINUTES} minutes, not {minutes}",
            hint=f"choose --minutes between 1 and {MAX_MINUTES}",
        )
    identity = identity.resolve()
    sock = socket_path(identity)
    if len(os.fsencode(str(sock))) > _SUN_PATH_MAX:
        raise AgentError(
            f"the agent's socket path is too long for a Unix socket ({sock})",
            hint="set XDG_RUNTIME_DIR to a short private directory, or move the project",
        )
    _make_private(sock.parent)
    stop(identity)
    argv, env = _command(identity, sock, minutes)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        raise AgentError(f"cannot start the key agent ({e.strerror})") from None
    try:
        out, err = proc.communicate(unlocked.key + unlocked.binding, timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AgentError("the key agent did not start in time", hint="try again") from None
    words = out.split()
    if proc.returncode != 0 or len(words) != 2 or words[0] != b"ready" or not words[1].isdigit():
        why = err.decode("utf-8", "replace").strip().splitlines()
        raise AgentError(
            f"the key agent did not start ({why[-1] if why else 'no reason given'})",
            hint="give the secret to each command instead (prompt, --passphrase-file,"
            " --key-file or SEALSYNC_PASSPHRASE)",
        )
    return Started(pid=int(words[1]), socket=sock, minutes=minutes)


# -- the agent ------------------------------------------------------------------------------


class Agent:
    """Holds one unlocked key and answers on ``listener`` until its time is up, the
    identity file changes, or it is told to lock. ``clock`` and ``uid`` are for tests."""

    def __init__(
        self,
        unlocked: UnlockedKey,
        identity: Path,
        listener: socket.socket,
        path: Path,
        *,
        expires_at: float,
        clock: Callable[[], float] = _boottime,
        uid: int | None = None,
    ) -> None:
        self._key = bytearray(unlocked.key)  # overwritten when the agent ends
        self._binding = unlocked.binding
        self._identity = identity
        self._listener = listener
        self._path = path
        self._inode = os.stat(path).st_ino
        self._expires_at = expires_at
        self._clock = clock
        self._uid = os.getuid() if uid is None else uid
        self._closed = False

    def __repr__(self) -> str:
        return f"Agent({self._path.name})"

    def serve(self) -> str:
        """Answer requests until the agent ends; returns why it ended."""
        try:
            while (why := self._ended()) is None:
                wait = min(POLL_SECONDS, max(0.01, self._expires_at - self._clock()))
                try:
                    self._listener.settimeout(wait)
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:  # closed by close() from another thread, or broken
                    return "locked" if self._closed else "the socket failed"
                with conn:
                    why = self._answer(conn)
                if why is not None:
                    return why
            return why
        finally:
            self.close()

    def _ended(self) -> str | None:
        if self._closed:
            return "locked"
        if self._clock() >= self._expires_at:
            return "time is up"
        try:
            if os.lstat(self._path).st_ino != self._inode:
                return "another agent took its place"
        except OSError:
            return "its socket is gone"
        try:
            with open(self._identity, "rb") as f:
                data = f.read(MAX_IDENTITY_BYTES + 1)
        except OSError:
            return "the identity file is gone"
        if not hmac.compare_digest(identity_binding(data), self._binding):
            return "the identity file changed"
        return None

    def _answer(self, conn: socket.socket) -> str | None:
        try:
            conn.settimeout(IO_SECONDS)
            if not peer_is_owner(conn, self._uid):
                return None  # another user: not a word
            line = _read_line(conn, 80).rstrip(b"\n")
            if line == b"LOCK":
                self.close()
                conn.sendall(b"OK\n")
                return "locked"
            if line == b"PING":
                left = max(0, int(self._expires_at - self._clock()))
                conn.sendall(f"OK {left}\n".encode("ascii"))
                return None
            if line.startswith(b"GET "):
                why = self._ended()
                if why is not None:
                    conn.sendall(b"NO\n")
                    return why
                try:
                    asked = bytes.fromhex(line[4:].decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    asked = b""
                if hmac.compare_digest(asked, self._binding):
                    conn.sendall(b"KEY " + bytes(self._key))
                    return None
            conn.sendall(b"NO\n")
        except OSError:
            pass
        return None

    def close(self) -> None:
        """Forget the key and remove the socket (if it is still this agent's). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for i in range(len(self._key)):
            self._key[i] = 0
        with contextlib.suppress(OSError):
            if os.lstat(self._path).st_ino == self._inode:
                os.unlink(self._path)
        self._listener.close()


def _harden() -> None:
    """No core file, and (Linux) not dumpable: processes of the same user can then
    neither ptrace the agent nor read its memory through /proc."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _listen(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)  # a stale socket: `start` has told any live agent to end
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    listener.listen(16)
    return listener


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m syncserver.project.agent``: started by :func:`start` only."""
    p = argparse.ArgumentParser(prog="syncserver.project.agent")
    p.add_argument("--identity", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--minutes", type=int, required=True)
    args = p.parse_args(argv)
    _harden()
    data = sys.stdin.buffer.read(64)
    if len(data) != 64 or not 1 <= args.minutes <= MAX_MINUTES:
        print("no key on standard input, or minutes out of range", file=sys.stderr)
        return 2
    unlocked = UnlockedKey(key=data[:32], binding=data[32:])
    path = Path(args.socket)
    try:
        listener = _listen(path)
    except OSError as e:
        print(f"cannot listen on {path} ({e.strerror})", file=sys.stderr)
        return 1
    expires_at = _boottime() + args.minutes * 60
    pid = os.fork()  # this process has no threads: the child may go on safely
    if pid:
        os.write(1, f"ready {pid}\n".encode("ascii"))
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.chdir("/")
    Agent(unlocked, Path(args.identity), listener, path, expires_at=expires_at).serve()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(_main())
