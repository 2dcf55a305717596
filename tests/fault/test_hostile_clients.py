"""Slow, broken and hostile clients do not hold the server (issue #6).

Twenty bad connections at once: slowloris heads and bodies (a byte at a time), bodies
cut off by a disconnect, random bytes instead of HTTP, invalid chunked encoding, a huge
header, a Content-Length larger than the body. While they are connected a normal device
upload completes promptly, the server's memory stays flat, and every bad connection is
closed within a bound set by ``[server] idle_timeout_seconds`` and
``body_timeout_seconds`` (2 s each here; 15 s and 120 s by default).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import aiohttp
import pytest
from fault_server import Kit, Server, Uploader

TIMEOUT_S = 2
SERVER_ENV = {
    "SEALSYNC_SERVER_INGEST_PROCESSES": "0",
    "SEALSYNC_SERVER_IDLE_TIMEOUT_SECONDS": str(TIMEOUT_S),
    "SEALSYNC_SERVER_BODY_TIMEOUT_SECONDS": str(TIMEOUT_S),
}
#: A bad connection is closed by then: a timeout, aiohttp's 2 s of lingering, slack.
CLOSED_WITHIN_S = 2 * TIMEOUT_S + 4
HEAD = "PATCH /v1/uploads/01a2460b-452e-7725-956e-7b20da91b0f0 HTTP/1.1\r\nHost: x\r\n"


def attacks(rng: random.Random) -> list[tuple[str, bytes, bytes | None, bool]]:
    """(name, what is sent at once, what is then trickled a byte at a time, whether the
    client hangs up itself right after sending)."""
    garbage = bytes(rng.getrandbits(8) for _ in range(4096))
    big = f"{HEAD}Content-Length: 1000000\r\n\r\n".encode()
    chunked = f"{HEAD}Transfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n".encode()
    return (
        [("slow head", HEAD.encode(), b"X-Slow: " + b"a" * 1000, False)] * 4
        + [("slow body", big, b"b" * 1000, False)] * 4
        + [("cut-off body", big + b"c" * 5000, None, True)] * 3
        + [("garbage", garbage, None, False)] * 3
        + [("bad chunked", chunked, None, False)] * 2
        + [("huge header", f"{HEAD}X-Big: {'h' * 100_000}\r\n\r\n".encode(), None, False)] * 2
        + [("short body", f"{HEAD}Content-Length: 50\r\n\r\n0123456789".encode(), None, False)] * 2
    )


async def attack(
    port: int, first: bytes, trickle: bytes | None, hang_up: bool
) -> tuple[float, bytes]:
    """Connect, misbehave; (seconds until the server closed the connection, its answer)."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        writer.write(first)
        await writer.drain()
        if hang_up:
            return 0.0, b""

        async def dribble() -> None:
            for byte in trickle or b"":
                await asyncio.sleep(0.1)
                writer.write(bytes([byte]))
                await writer.drain()

        dribbling = asyncio.create_task(dribble())
        try:
            async with asyncio.timeout(CLOSED_WITHIN_S + 5):
                while chunk := await reader.read(65536):
                    answer += chunk
        except (ConnectionError, TimeoutError):
            pass
        finally:
            dribbling.cancel()
            try:
                await dribbling
            except (asyncio.CancelledError, ConnectionError):
                pass
        return time.monotonic() - start, answer
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


@pytest.mark.slow
def test_hostile_clients_do_not_hold_the_server(tmp_path: Path) -> None:
    kit = Kit.create(tmp_path, devices=1, bundles_per_device=3, records=4, seed=7)
    server = Server(kit, env=SERVER_ENV)
    server.start()
    rng = random.Random(66)

    async def scenario() -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            up = Uploader(session, server.base, kit, chunk=2048)
            a, b, c = kit.bundles
            await up.upload_once(a)  # warm: the memory baseline includes a real upload
            rss_before = server.rss_kib()
            peak = rss_before
            bad = attacks(rng)
            attackers = [asyncio.create_task(attack(server.port, *x[1:])) for x in bad]
            await asyncio.sleep(0.5)  # all twenty connected and misbehaving

            t0 = time.monotonic()
            await up.upload_once(b)
            took = time.monotonic() - t0
            assert took < 3.0, f"a normal upload took {took:.1f} s among bad clients"

            while not all(t.done() for t in attackers):
                peak = max(peak, server.rss_kib())
                await asyncio.sleep(0.1)
            results = [t.result() for t in attackers]
            grew = (peak - rss_before) / 1024
            assert grew < 48, f"server memory grew by {grew:.0f} MiB"

            for (name, _, _, hang_up), (after, answer) in zip(bad, results, strict=True):
                if hang_up:
                    continue
                assert after < CLOSED_WITHIN_S, f"{name}: still open after {after:.1f} s"
                status = answer[9:12]  # after "HTTP/1.x "
                if name in ("slow body", "short body"):
                    assert status == b"408", (name, answer[:200])
                elif name != "slow head":  # a slow head is simply dropped
                    assert status in (b"400", b"431"), (name, answer[:200])

            await up.upload_once(c)  # and the server is still well
            assert server.running

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in log, "a bad client caused an unhandled error"
