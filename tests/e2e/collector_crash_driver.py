"""A field kit run in a child process, to be killed (tests/e2e/test_collector_crash.py).

    python tests/e2e/collector_crash_driver.py HOME STEP [--seed N] [--pause-at N | --pause-on OP]

Unlocks the kit in HOME with $SEALSYNC_COLLECTOR_PASSPHRASE (never printed) and does
STEP through the collector's library API, as the `collector` commands do:

``answer``
    Resume the kit's one draft (or start one) and answer every question that is still
    open with the answers ``synthesize(form, Random(seed), fixed={"consent": "yes"})``
    gives, saving the draft after each (as `collector interview` does); then finalize.
``seal``
    Seal every finalized interview, two records per bundle.
``sync``
    Upload the outbox to the server the kit is enrolled with.

Reports on stdout, one flushed line each: ``READY`` once unlocked; ``OP n put|delete
KIND`` before the n-th change to the vault and ``OK n`` after it; ``SAVED <digest>`` after
each saved answer (:func:`digest` of the answers); ``SENT done size`` after each piece of
a bundle the server took; ``DONE`` at the end. With
``--pause-at N`` (or ``--pause-on "delete draft"``) it prints ``PAUSE n op KIND`` before
the N-th change (the first such change) and waits to be killed: the kill lands exactly
between two steps. Synthetic data only.

    python tests/e2e/collector_crash_driver.py --zygote

imports all this once, then for each JSON list of arguments read on stdin forks a child
that runs them (a fresh process: it unlocks and opens the kit itself), prints ``PID n``
before the child says anything, and ``EXIT code`` once it has ended (a kill included;
the child is reaped when the next line comes, so its pid is never reused before).
A fork costs milliseconds where a new interpreter costs half a second, so a test can
kill many more children in the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from collector import keystore
from collector.interview import Interview
from collector.kit import Kit
from collector.vault import ObjectStream, Vault
from schemas.survey import Form
from schemas.survey.synth import synthesize

FORM_ID = "escapee-interview"
PASS_ENV = "SEALSYNC_COLLECTOR_PASSPHRASE"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def digest(answers: dict[str, Any]) -> str:
    """A short fingerprint of a response (what ``SAVED`` reports)."""
    raw = json.dumps(answers, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:16]


def target(form: Form, seed: int) -> dict[str, Any]:
    return synthesize(form, random.Random(seed), fixed={"consent": "yes"})


def typed(want: dict[str, Any], kind: str, path: tuple[str | int, ...]) -> str:
    """What an interviewer types at ``path`` to give the answers in ``want``."""
    if kind == "add_another":
        entries = _at(want, path[:-1]) or []
        return "y" if len(entries) > int(path[-1]) else "n"
    v = _at(want, path)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "y" if v else "n"
    if isinstance(v, list):
        return " ".join(v)
    return str(v)


def _at(answers: Any, path: tuple[str | int, ...]) -> Any:
    for seg in path:
        if isinstance(seg, int):
            answers = answers[seg] if seg < len(answers) else {}
        else:
            answers = answers.get(seg)
            if answers is None:
                return None
    return answers


class TracedVault:
    """The kit's vault, reporting every change (and pausing before one, if asked)."""

    def __init__(self, inner: Vault, pause_at: int | None, pause_on: str | None) -> None:
        self._inner = inner
        self._pause_at = pause_at
        self._pause_on = pause_on
        self._n = 0

    def _step(self, op: str, kind: str) -> int:
        self._n += 1
        if self._n == self._pause_at or f"{op} {kind}" == self._pause_on:
            say(f"PAUSE {self._n} {op} {kind}")
            time.sleep(60)  # the test kills us here
            raise SystemExit("not killed")
        say(f"OP {self._n} {op} {kind}")
        return self._n

    def put(self, kind: str, id: str, data: bytes) -> None:
        n = self._step("put", kind)
        self._inner.put(kind, id, data)
        say(f"OK {n}")

    def put_stream(self, kind: str, id: str, chunks: Iterable[bytes]) -> None:
        n = self._step("put", kind)
        self._inner.put_stream(kind, id, chunks)
        say(f"OK {n}")

    def delete(self, kind: str, id: str) -> bool:
        n = self._step("delete", kind)
        existed = self._inner.delete(kind, id)
        say(f"OK {n}")
        return existed

    def get(self, kind: str, id: str) -> bytes:
        return self._inner.get(kind, id)

    def list(self, kind: str) -> list[str]:
        return self._inner.list(kind)

    def open_stream(self, kind: str, id: str) -> ObjectStream:
        return self._inner.open_stream(kind, id)

    def exists(self, kind: str, id: str) -> bool:
        return self._inner.exists(kind, id)


def answer(kit: Kit, seed: int) -> None:
    form = kit.form(FORM_ID)
    drafts = kit.drafts()
    d = drafts[0] if drafts else kit.new_draft(form, "ko")
    want = target(form, seed)

    def save(answers: dict[str, Any]) -> None:
        d.answers, d.lang, d.stopped_early = answers, iv.lang, iv.stopped_early
        kit.save_draft(d)  # encrypted, atomic: the moment the answer is given
        say(f"SAVED {digest(answers)}")

    iv = Interview(form, d.answers, lang=d.lang, on_change=save)
    while (q := iv.current()) is not None:
        refusal = iv.answer(typed(want, q.kind, q.path))
        if refusal is not None:
            raise SystemExit(f"refused at {q.path}: {refusal.code}")
    if iv.finalize():
        raise SystemExit("the response does not finalize")
    kit.finalize(d)


def sync(kit: Kit) -> None:
    async def run() -> None:
        timeout = aiohttp.ClientTimeout(total=20, sock_connect=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            report = await kit.sync(
                session, bytes_progress=lambda done, size: say(f"SENT {done} {size}")
            )
        if report.failed:
            raise SystemExit(f"{len(report.failed)} bundle(s) failed")

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("home")
    p.add_argument("step", choices=["answer", "seal", "sync"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pause-at", type=int, help="pause before the N-th change")
    p.add_argument("--pause-on", help="pause before the first change like 'delete draft'")
    args = p.parse_args(argv)
    home = Path(args.home)
    keys = keystore.unlock(home, os.environ[PASS_ENV])
    vault = TracedVault(Vault(home, keys.data_key), args.pause_at, args.pause_on)
    kit = Kit(vault, keys.device_key)
    say("READY")
    if args.step == "answer":
        answer(kit, args.seed)
    elif args.step == "seal":
        kit.seal(max_records=2)
    else:
        sync(kit)
    say("DONE")
    return 0


def zygote() -> int:
    """Fork one child per line of arguments on stdin, one at a time (see the docstring).

    An ended child is reaped only when the next line comes: until then its pid stays
    reserved, so the test may SIGKILL it at any moment without hitting another process.
    """
    ended: int | None = None
    for line in sys.stdin:
        if ended is not None:
            os.waitpid(ended, 0)
        argv = json.loads(line)
        hold, release = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: wait until its pid is reported, then run
            os.close(release)
            os.read(hold, 1)
            os.close(hold)
            code = 1
            try:
                code = main(argv)
            except SystemExit as e:
                print(e, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(hold)
        say(f"PID {pid}")
        os.write(release, b"x")
        os.close(release)
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        assert info is not None
        code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        say(f"EXIT {code}")
        ended = pid
    if ended is not None:
        os.waitpid(ended, 0)
    return 0


if __name__ == "__main__":
    sys.exit(zygote() if sys.argv[1:] == ["--zygote"] else main())
