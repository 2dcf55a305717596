"""``syncserver run`` in a child process, on the port the server itself bound.

The server is started with ``--port 0`` (or, to restart it in place, with the port it
reported before) and the port is read back from its serving line, which it flushes at
once: "serving project … on http://127.0.0.1:PORT (Ctrl-C to stop)". A port that a test
picks, releases and then passes to the server could be taken by another process in
between; a port read back from the server that holds it cannot.

Every read of the server's output has a deadline: a server that dies or hangs at start-up
is an error naming its log, never a test that waits for ever."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, NamedTuple

#: The line ``syncserver run`` prints once it accepts connections on one address.
SERVING = re.compile(
    rb"serving project \S+ on (https?)://127\.0\.0\.1:([1-9][0-9]*) \(Ctrl-C to stop\)\n"
)


def read_until(fd: int, end: bytes, timeout: float) -> bytes:
    """What the process writes on ``fd`` until ``end`` has been written (or EOF, or
    ``timeout`` seconds): everything read, which may go on past ``end``."""
    out = b""
    deadline = time.monotonic() + timeout
    while end not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        out += chunk
    return out


def serving_port(out: bytes) -> int | None:
    """The port named by the serving line in ``out``, or None if it holds none."""
    m = SERVING.search(out)
    return int(m.group(2)) if m else None


class Started(NamedTuple):
    proc: subprocess.Popen[bytes]
    port: int
    base: str  # "http://127.0.0.1:PORT" (https with TLS)


def start_syncserver(
    argv: list[str], log: Path, *, port: int = 0, timeout: float = 60.0, **popen: Any
) -> Started:
    """Run ``argv`` (a ``syncserver run`` command line without ``--port``) with
    ``--port PORT`` (0: any free port, the default) and wait, at most ``timeout``
    seconds, for its serving line. Its stderr and its whole stdout are appended to
    ``log`` (a thread copies stdout there, so that the pipe never fills); ``popen`` goes
    to :class:`subprocess.Popen` (``env``, ``cwd``, ``start_new_session``). If the
    server exits or stays silent first, it is killed (its process group with
    ``start_new_session``) and :class:`RuntimeError` carries the end of its log."""
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)], stdout=subprocess.PIPE, stderr=err, **popen
        )
    assert proc.stdout is not None
    out = read_until(proc.stdout.fileno(), b"(Ctrl-C to stop)\n", timeout)
    with log.open("ab") as f:
        f.write(out)
    m = SERVING.search(out)
    if m is None or (port and int(m.group(2)) != port):
        exited = proc.poll() is not None
        _kill(proc, group=bool(popen.get("start_new_session")))
        proc.stdout.close()
        said = "exited" if exited else f"printed no serving line in {timeout} s"
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"syncserver run {said} (port {port}); end of {log}:\n{tail}")
    threading.Thread(target=_copy, args=(proc.stdout, log), daemon=True).start()
    got = int(m.group(2))
    return Started(proc, got, f"{m.group(1).decode()}://127.0.0.1:{got}")


def _copy(pipe: IO[bytes], log: Path) -> None:
    """Append what the server writes to ``pipe`` to ``log`` until it ends (EOF: the
    server and every process that inherited its stdout are gone)."""
    with pipe, log.open("ab") as f:
        while chunk := os.read(pipe.fileno(), 65536):
            f.write(chunk)
            f.flush()


def _kill(proc: subprocess.Popen[bytes], *, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
