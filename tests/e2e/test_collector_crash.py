"""SIGKILL the field kit while it answers, seals and syncs, and fill its disk (issue #6).

The kit runs in a child process (``collector_crash_driver.py``, the collector's library
API as the `collector` commands use it) and is killed either exactly between two changes
to its vault (the driver pauses there) or at a random, seeded moment inside one. After
every kill the kit is opened again, as the next `collector` command would, and checked:

* the vault opens, no temporary file is left, every object authenticates, and no file
  is there that the index does not account for;
* every answer saved before the kill is in the draft, which is exactly one of the states
  the interview went through, and the interview resumes where it stopped;
* every record is in exactly one place: a draft, a finalized response, or one sealed
  bundle (opened here with the server's key: the kit itself cannot read them);
* a sealed bundle stays queued until a receipt for it is stored, and that receipt
  verifies (signed checkpoint, inclusion proof, this bundle's bytes);
* after a last sync the server holds every record once, each bundle was accepted once,
  the device's chain of bundles has no gap, and the kit's queue is empty.

A full disk (``ENOSPC`` part-way through a write, and on every write after it) while
answering and while sealing: the interviewer gets a clear error and what to do next; the
kit stays readable with the disk still full; nothing saved before is lost, and once
space is freed the interview and the seal complete with every record exactly once.
"""

from __future__ import annotations

import builtins
import datetime
import errno
import hashlib
import io
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from collector_crash_driver import digest, target, typed  # noqa: E402
from support.project import new_project, reopen  # noqa: E402
from support.syncserver_run import Started, start_syncserver  # noqa: E402
from support.uploader import enroll_file  # noqa: E402

from collector import keystore  # noqa: E402
from collector import vault as vault_module  # noqa: E402
from collector.cli import main as collector  # noqa: E402
from collector.interview import Interview  # noqa: E402
from collector.kit import Kit, OutboxEntry  # noqa: E402
from collector.vault import Vault  # noqa: E402
from schemas.bundle import OpenedBundle, open_bundle  # noqa: E402
from schemas.forms import shipped_form  # noqa: E402
from schemas.survey.synth import synthesize  # noqa: E402
from schemas.tlog import leaf_hash, verify_checkpoint, verify_inclusion  # noqa: E402
from schemas.wire import FormSet, PublishedFormDoc, ReceiptBody, SignedFormSet, sign_formset  # noqa: E402
from syncserver.audit.entries import decode_entry  # noqa: E402
from syncserver.audit.verify import verify_log  # noqa: E402
from syncserver.project import Project  # noqa: E402

FORM = shipped_form("escapee-interview")
PASS = "synthetic passphrase of the crash-test kit"  # handed to children in their env only
PASS_ENV = "SEALSYNC_COLLECTOR_PASSPHRASE"
FAST = keystore.KdfParams(memory_kib=1024, iterations=1, lanes=1)
DRIVER = HERE / "collector_crash_driver.py"
CHILD_LIMIT = 20.0  # seconds any child may take before the test fails
KINDS = ("draft", "final", "attachment", "outbox", "outbox-meta", "receipt", "state", "form")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# -- a server-side project and a kit enrolled with it ------------------------------------


def server_project(root: Path) -> tuple[Project, Path]:
    """A project with the shipped form (``support.project``), its secret in a key file
    (for `syncserver run`)."""
    key = root / "server.key"
    return new_project(root / "srv", key_file=key, publish=True), key


def signed_forms(project: Project) -> SignedFormSet:
    """The signed form set, as `GET /v1/forms` serves it (`collector forms --file`)."""
    rows = project.store.read_sync(lambda tx: tx.forms.all())
    docs = [
        PublishedFormDoc(form_id=f.form_id, version=f.version, digest=f.digest, document=f.document)
        for f in rows
    ]
    return sign_formset(FormSet(issued_at=now(), forms=docs), project.identity.signing)


def new_kit(home: Path, project: Project, url: str = "") -> None:
    """A kit in ``home``, enrolled with ``project`` (offline, by file) and given its forms."""
    keystore.create(home, PASS, kdf=FAST)
    kit = open_kit(home)
    response = enroll_file(project, kit.enrollment_request("crash-lab"), now=now())
    kit.accept_enrollment(response, url)
    kit.accept_forms(signed_forms(project))


def open_kit(home: Path) -> Kit:
    """The kit opened again, as the next `collector` command opens it."""
    keys = keystore.unlock(home, PASS)
    return Kit(Vault(home, keys.data_key), keys.device_key)


def finalize_interviews(kit: Kit, seeds: range, attachment: bytes = b"") -> list[uuid.UUID]:
    """Finalized interviews with synthetic answers (the even seeds with ``attachment``,
    as a recording attached to the draft)."""
    ids = []
    for seed in seeds:
        d = kit.new_draft(kit.form(FORM.id), "ko")
        d.answers = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
        kit.save_draft(d)
        if attachment and seed % 2 == 0:
            with tempfile.TemporaryDirectory() as scratch:
                src = Path(scratch) / "recording.ogg"
                src.write_bytes(attachment)
                kit.attach(d, str(src))
        ids.append(kit.finalize(d).record_id)
    return ids


# -- checks ------------------------------------------------------------------------------


def vault_verifies(home: Path, kit: Kit) -> None:
    """No temporary file; every object authenticates; every file is accounted for."""
    files = [p.name for p in (home / "objects").iterdir()]
    assert not [n for n in files if n.endswith(".tmp")]
    listed = 0
    for kind in KINDS:
        for id in kit.vault.list(kind):
            with kit.vault.open_stream(kind, id) as stream:  # type: ignore[attr-defined]
                for _ in stream:  # each chunk authenticated, the end checked
                    pass
            listed += 1
    assert len(files) == listed + 1, "a vault file the index does not account for"  # + index


def open_queued(kit: Kit, project: Project) -> list[tuple[OutboxEntry, OpenedBundle]]:
    """The queued bundles, in order, opened with the server's key (the kit cannot)."""
    device = kit.device_key.public_key()
    queued = []
    for e in kit.outbox():
        data = kit.vault.get("outbox", e.slot)
        opened = open_bundle(
            io.BytesIO(data), recipient=project.identity.recipient, device_keys=lambda _: device
        )
        assert opened.sha256 == e.sha256 == hashlib.sha256(data).digest()
        assert opened.bundle_id == e.bundle_id and opened.size == e.size == len(data)
        queued.append((e, opened))
    return queued


def places(kit: Kit, project: Project) -> dict[uuid.UUID, list[str]]:
    """Where each record is: a draft, a finalized response, a sealed bundle in the queue."""
    where: dict[uuid.UUID, list[str]] = {}
    for d in kit.drafts():
        where.setdefault(d.record_id, []).append("draft")
    for rid in kit.finalized():
        where.setdefault(rid, []).append("final")
    for e, opened in open_queued(kit, project):
        for r in opened.records:
            where.setdefault(r.record_id, []).append(f"bundle {e.bundle_id}")
    return where


def exactly_once(where: dict[uuid.UUID, list[str]], records: list[uuid.UUID]) -> None:
    assert set(where) == set(records)
    twice = {str(r)[:8]: p for r, p in where.items() if len(p) != 1}
    assert not twice, f"records in more than one place: {twice}"


def chain_of(kit: Kit, project: Project) -> list[int]:
    """The queued bundles' device sequence numbers, each linked to the one before."""
    prev, seqs = bytes(32), []
    for _, opened in open_queued(kit, project):
        assert opened.manifest.prev_bundle_sha256 == prev
        prev = opened.sha256
        seqs.append(opened.manifest.device_seq)
    return seqs


# -- children to kill -----------------------------------------------------------------------


class Zygote:
    """The driver with everything imported, forking one child per run (its lines are
    read by a thread, every wait has a deadline)."""

    def __init__(self, log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), PASS_ENV: PASS}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8").rstrip("\n"))
        self.lines.put(None)

    def run(self, home: Path, step: str, *args: str) -> Child:
        assert self.proc.stdin is not None
        self.proc.stdin.write(msgspec.json.encode([str(home), step, *args]) + b"\n")
        self.proc.stdin.flush()
        return Child(self)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=CHILD_LIMIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.log.close()


class Child:
    """One forked child of the zygote: read its lines, kill it, or let it finish."""

    def __init__(self, zygote: Zygote) -> None:
        self._z = zygote
        self.started = time.monotonic()
        self.lines: list[str] = []
        self.exit: int | None = None
        pid = self._next()
        assert pid is not None and pid.startswith("PID "), pid
        self.pid = int(pid.split()[1])

    def _next(self) -> str | None:
        left = self.started + CHILD_LIMIT - time.monotonic()
        try:
            line = self._z.lines.get(timeout=max(left, 0.01))
        except queue.Empty:
            raise AssertionError(f"the child hung: {self.lines[-3:]}") from None
        if line is None:
            raise AssertionError("the driver died; see its log")
        return line

    def until(self, prefix: str) -> str | None:
        """Read up to the first line starting with ``prefix``; None if the child ended."""
        while self.exit is None:
            line = self._next()
            assert line is not None
            if line.startswith("EXIT "):
                self.exit = int(line.split()[1])
                return None
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        return None

    def kill(self) -> None:
        """SIGKILL, unless it has just ended by itself (a random moment may come late)."""
        if self.exit is None:
            os.kill(self.pid, signal.SIGKILL)
        self.close()
        assert self.exit == -signal.SIGKILL or self.lines[-1:] == ["DONE"], self.lines[-3:]

    def finish(self) -> None:
        """Let the child run to its end; it must end well."""
        self.close()
        assert self.exit == 0 and self.lines[-1] == "DONE", self.lines[-3:]

    def close(self) -> None:
        """Wait for the end (keeping what it said before it), killing it at the deadline."""
        try:
            self.until("EXIT ")
        finally:
            if self.exit is None:
                os.kill(self.pid, signal.SIGKILL)
                self.until("EXIT ")

    def saved(self) -> list[str]:
        return [line.split()[1] for line in self.lines if line.startswith("SAVED ")]


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    z = Zygote(tmp_path / "driver.log")
    yield z
    z.close()


def kill_at(child: Child, rng: random.Random, *, exact: bool, op: int) -> str:
    """Kill ``child`` exactly before its ``op``-th change to the vault, or at a random
    moment inside it; what the kill interrupted, for messages."""
    if exact:
        line = child.until("PAUSE ")
    else:
        line = child.until(f"OP {op} ")
        if line is not None:
            time.sleep(rng.uniform(0.0, 0.006))
    child.kill()
    return line or "(ended first)"


# -- (a) answering ------------------------------------------------------------------------


def interview_states(seed: int) -> tuple[list[str], dict[str, tuple[str | int, ...] | None]]:
    """The digests of the responses an interview saves, in order, and for each the
    question it should resume at (the one asked next when that response was saved)."""
    want = target(FORM, seed)
    saved: list[dict[str, Any]] = []
    iv = Interview(FORM, lang="ko", on_change=saved.append)
    first = iv.current()
    assert first is not None
    states, resume = [digest({})], {digest({}): first.path}
    while (q := iv.current()) is not None:
        assert iv.answer(typed(want, q.kind, q.path)) is None
        for s in saved:
            if digest(s) != states[-1]:
                states.append(digest(s))
        saved.clear()
        nxt = iv.current()
        resume.setdefault(states[-1], None if nxt is None else nxt.path)
    return states, resume


@pytest.mark.slow
def test_sigkill_while_answering_keeps_every_saved_answer(tmp_path: Path, zygote: Zygote) -> None:
    seed = 11
    rng = random.Random(seed)
    project, _ = server_project(tmp_path)
    home = tmp_path / "kit"
    new_kit(home, project)
    states, resume = interview_states(seed)
    assert len(states) == 49
    at = 0  # the last state known saved
    draft_id = record_id = None
    kills = []
    for n in range(8):
        exact = n % 2 == 0
        op = rng.randint(1, 5)  # at most 40 of the 48 answers: the draft stays a draft
        child = zygote.run(home, "answer", "--seed", str(seed), *(["--pause-at", str(op)] * exact))
        try:
            what = kill_at(child, rng, exact=exact, op=op)
        finally:
            child.close()
        kills.append(what)
        acked = [states.index(s) for s in child.saved()]  # each one a state it went through
        at = max([at, *acked])
        kit = open_kit(home)
        vault_verifies(home, kit)
        [d] = kit.drafts()
        assert kit.finalized() == []
        assert (draft_id or d.draft_id, record_id or d.record_id) == (d.draft_id, d.record_id)
        draft_id, record_id = d.draft_id, d.record_id
        now_at = states.index(digest(d.answers))  # exactly a state saved: nothing half-written
        # every answer acknowledged is there; at most the one being saved is not reported
        assert now_at == at if exact else at <= now_at <= at + 1, (what, at, now_at)
        at = now_at
        q = Interview(FORM, d.answers, lang=d.lang).current()
        assert (q and q.path) == resume[states[at]], what  # resumes where it stopped
    assert 0 < at < len(states) - 1

    # Killed after the response is finalized but before its draft is deleted: it must
    # not come back as a draft (to be finalized and sealed a second time).
    child = zygote.run(home, "answer", "--seed", str(seed), "--pause-on", "delete draft")
    try:
        line = child.until("PAUSE ")
        child.kill()
    finally:
        child.close()
    saves = len(states) - 1 - at  # the rest of the answers, then `put final`, then this
    assert line == f"PAUSE {saves + 2} delete draft"
    kit = open_kit(home)
    vault_verifies(home, kit)
    assert kit.drafts() == [] and kit.finalized() == [record_id]
    child = zygote.run(home, "answer", "--seed", str(seed + 1))  # the next interview goes on
    try:
        kill_at(child, rng, exact=False, op=3)
    finally:
        child.close()
    kit = open_kit(home)
    [other] = kit.drafts()
    assert kit.finalized() == [record_id] and other.record_id != record_id
    [bundle] = kit.seal()
    kit = open_kit(home)
    [(entry, opened)] = open_queued(kit, project)
    [record] = opened.records
    assert entry.bundle_id == bundle and record.record_id == record_id
    assert record.answers == {k: v for k, v in target(FORM, seed).items() if v != []}
    assert [d.record_id for d in kit.drafts()] == [other.record_id]
    project.close()
    print(f"kills while answering: {kills}")


# -- (b) sealing ----------------------------------------------------------------------------


def after_seal_kill(home: Path, project: Project, records: list[uuid.UUID]) -> set[uuid.UUID]:
    """The checks after a kill during a seal; the bundles now queued."""
    kit = open_kit(home)
    vault_verifies(home, kit)
    exactly_once(places(kit, project), records)
    seqs = chain_of(kit, project)
    assert seqs == list(range(1, len(seqs) + 1))
    return {e.bundle_id for e in kit.outbox()}


def sealed_once(home: Path, project: Project, records: list[uuid.UUID]) -> None:
    """After the seal completes: every record in exactly one bundle, the bundles one
    unbroken chain, nothing readable of them left on the device."""
    kit = open_kit(home)
    assert kit.drafts() == [] and kit.finalized() == []
    assert kit.vault.list("attachment") == [] and kit.vault.list("final") == []
    exactly_once(places(kit, project), records)
    assert chain_of(kit, project) == list(range(1, len(kit.outbox()) + 1))
    vault_verifies(home, kit)


@pytest.mark.slow
def test_sigkill_while_sealing_seals_every_record_exactly_once(
    tmp_path: Path, zygote: Zygote
) -> None:
    rng = random.Random(22)
    project, _ = server_project(tmp_path)
    pristine = tmp_path / "pristine"
    new_kit(pristine, project)
    kit = open_kit(pristine)
    records = finalize_interviews(kit, range(5))
    kit.seal(max_records=2)  # bundles already queued: the chain goes on from them
    records += finalize_interviews(kit, range(5, 10), attachment=os.urandom(100_000))
    before = after_seal_kill(pristine, project, records)
    assert len(before) == 3

    # Exactly before each change the seal makes to the vault, one after the other.
    points = []
    for n in range(1, 40):
        home = tmp_path / f"at-{n}"
        shutil.copytree(pristine, home)
        child = zygote.run(home, "seal", "--pause-at", str(n))
        try:
            line = child.until("PAUSE ")
            if line is None:
                child.finish()  # past the last change: the seal simply completed
                sealed_once(home, project, records)
                break
            child.kill()
        finally:
            child.close()
        points.append(line.split(maxsplit=2)[2])
        queued = after_seal_kill(home, project, records)
        assert before <= queued  # a queued bundle stays queued
        open_kit(home).seal(max_records=2)  # the interviewer seals again
        sealed_once(home, project, records)
        shutil.rmtree(home)
    assert Counter(points) >= Counter(
        {"put outbox": 3, "put outbox-meta": 3, "put state": 3, "delete final": 5}
    )
    assert "delete attachment" in points

    # At random moments inside the changes, the seal restarted after each kill.
    home = tmp_path / "random"
    shutil.copytree(pristine, home)
    queued = before
    for _ in range(5):
        child = zygote.run(home, "seal")
        try:
            kill_at(child, rng, exact=False, op=rng.randint(1, 3))
        finally:
            child.close()
        now_queued = after_seal_kill(home, project, records)
        assert queued <= now_queued
        queued = now_queued
    child = zygote.run(home, "seal")
    child.finish()
    sealed_once(home, project, records)
    project.close()
    print(f"seal killed before: {points}")


# -- (c) syncing ----------------------------------------------------------------------------


def start_server(d: Path, key: Path) -> Started:
    """`syncserver run` on 127.0.0.1, a port it binds itself, once it serves."""
    argv = [sys.executable, "-m", "syncserver.cli", "run", "--dir", str(d)]
    argv += ["--key-file", str(key)]
    return start_syncserver(argv, d.parent / "server.log", cwd=REPO)


def receipt_verifies(kit: Kit, bundle_id: uuid.UUID, sha256: bytes) -> None:
    """The receipt the kit kept names this bundle and these bytes, and is proved in a
    checkpoint signed by the project's log key."""
    body = msgspec.msgpack.decode(kit.vault.get("receipt", str(bundle_id)), type=ReceiptBody)
    assert (body.bundle_id, body.sha256) == (bundle_id, sha256)
    pins = kit.pins()
    cp = verify_checkpoint(body.checkpoint, pins.verifier_key(), origin=pins.log_origin)
    verify_inclusion(
        leaf_hash(body.log_entry), body.log_index, cp.size, body.inclusion_proof, cp.root_hash
    )
    entry = msgspec.msgpack.decode(body.log_entry)
    assert (entry["kind"], entry["subject"]) == ("upload", str(bundle_id))


def after_sync_kill(home: Path, sealed: dict[uuid.UUID, bytes]) -> tuple[set[uuid.UUID], int]:
    """The checks after a kill during a sync: (bundles still queued, receipts kept)."""
    kit = open_kit(home)
    vault_verifies(home, kit)
    assert kit.drafts() == [] and kit.finalized() == []
    queued = {}
    for e in kit.outbox():
        data = kit.vault.get("outbox", e.slot)  # still whole, still the sealed bytes
        assert hashlib.sha256(data).digest() == e.sha256 == sealed[e.bundle_id]
        queued[e.bundle_id] = e
    receipts = {uuid.UUID(r) for r in kit.vault.list("receipt")}
    for bid in receipts:
        receipt_verifies(kit, bid, sealed[bid])
    # nothing is dropped from the queue without a verified receipt, nothing new appears
    assert set(queued) | receipts == set(sealed)
    return set(queued), len(receipts)


@pytest.mark.slow
def test_sigkill_while_syncing_delivers_every_record_exactly_once(
    tmp_path: Path, zygote: Zygote
) -> None:
    rng = random.Random(33)
    project, key = server_project(tmp_path)
    home = tmp_path / "kit"
    new_kit(home, project)  # the server's URL once it is running and has said its port
    kit = open_kit(home)
    records = finalize_interviews(kit, range(14), attachment=os.urandom(600_000))
    kit.seal(max_records=2)
    sealed = {e.bundle_id: e.sha256 for e in kit.outbox()}
    assert len(sealed) == 7
    project.close()

    server, _, url = start_server(tmp_path / "srv", key)
    kit.accept_enrollment(kit.enrollment().response, url)  # as `collector enroll --file --url`
    kills = []
    try:
        queued = set(sealed)
        for n in range(16):
            if not queued:
                break
            how = ("exact", "inside", "mid-upload", "random")[n % 4]
            op = rng.randint(1, 3)
            child = zygote.run(home, "sync", *(["--pause-at", str(op)] * (how == "exact")))
            try:
                if how in ("exact", "inside"):
                    what = kill_at(child, rng, exact=how == "exact", op=op)
                elif how == "mid-upload":  # the server has some pieces of a bundle
                    while (line := child.until("SENT ")) is not None:
                        done, size = map(int, line.split()[1:])
                        if done < size:
                            break
                    child.kill()
                    what = child.lines[-1]
                else:  # a random moment after the kit opened
                    assert child.until("READY") is not None
                    time.sleep(rng.uniform(0.0, 0.02))
                    child.kill()
                    what = child.lines[-1]
            finally:
                child.close()
            kills.append(f"{how}: {what}")
            now_queued, receipted = after_sync_kill(home, sealed)
            assert now_queued <= queued  # only ever leaves the queue, with a receipt
            queued = now_queued
        assert len(kills) >= 10, f"the bundles went through too soon to test much: {kills}"
        partial = [k for k in kills if k.startswith("mid-upload: SENT")]
        assert any(int(k.split()[2]) < int(k.split()[3]) for k in partial), kills
        child = zygote.run(home, "sync")
        child.finish()
        queued, receipted = after_sync_kill(home, sealed)
        assert queued == set() and receipted == len(sealed)
        kit = open_kit(home)
        st = kit.status()
        assert (st.sealed_not_uploaded, st.finalized, st.drafts) == (0, 0, 0)
        assert kit.vault.list("outbox") == [] and kit.vault.list("outbox-meta") == []
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)

    project = reopen(tmp_path / "srv", key_file=key)
    try:
        rows = project.store.read_sync(
            lambda c: c.execute("SELECT record_id, bundle_id FROM records").fetchall()
        )
        assert sorted(uuid.UUID(bytes=r) for r, _ in rows) == sorted(records)  # each once
        bundles = project.store.read_sync(
            lambda c: c.execute("SELECT bundle_id, state, sha256 FROM bundles").fetchall()
        )
        assert {uuid.UUID(bytes=b): (s, h) for b, s, h in bundles} == {
            b: ("accepted", h) for b, h in sealed.items()
        }
        entries = project.store.read_sync(
            lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
        )
        log = [decode_entry(e) for (e,) in entries]
        accepts = [e for e in log if e.kind == "accept" and "device_seq" in e.detail]
        assert sorted(uuid.UUID(e.subject) for e in accepts) == sorted(sealed)  # each once
        assert sum(e.detail["records"] for e in accepts) == len(records)  # none sent twice
        assert [e.detail["device_seq"] for e in accepts] == list(range(1, len(sealed) + 1))
        assert not [e for e in accepts if e.detail["chain_gap"]]  # an unbroken chain
        merged = [uuid.UUID(e.subject) for e in log if e.kind == "accept" and e not in accepts]
        assert sorted(merged) == sorted(records)
        assert [e.kind for e in log].count("upload") == len(sealed)
    finally:
        project.close()
    report = verify_log(tmp_path / "srv" / "store.db")
    assert report.ok, report.first_problem
    print(f"sync killed at: {kills}")


# -- a full disk ----------------------------------------------------------------------------


class FullDisk:
    """``open`` for :mod:`collector.vault` on a disk with ``free`` bytes left: the write
    that needs more fails with ENOSPC part-way through, and so does every write after it.
    (The vault and the keystore write every file through it; reads pass through.)"""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = builtins.open(file, mode, *args, **kwargs)
        return _Filling(f, self) if "w" in mode else f


class _Filling:
    def __init__(self, f: Any, disk: FullDisk) -> None:
        self._f = f
        self._disk = disk

    def write(self, data: Any) -> int:
        n = len(data)
        if n > self._disk.free:
            self._f.write(bytes(data[: self._disk.free]))
            self._disk.free = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.free -= n
        return int(self._f.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _Filling:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


def run_cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = collector(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


NO_SPACE = "cannot write to the vault (No space left on device)"


def typed_lines(home: Path, keys: keystore.Keys, draft_id: str, seed: int) -> list[str]:
    """What the interviewer types from where the draft stands to the last question."""
    d = Kit(Vault(home, keys.data_key), keys.device_key).draft(draft_id)
    iv, want, lines = Interview(FORM, d.answers, lang=d.lang), target(FORM, seed), []
    while (q := iv.current()) is not None:
        lines.append(typed(want, q.kind, q.path))
        assert iv.answer(lines[-1]) is None
    return lines


def test_a_full_disk_while_answering_keeps_every_saved_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = 44
    rng = random.Random(seed)
    project, _ = server_project(tmp_path)
    home = tmp_path / "kit"
    new_kit(home, project)
    keys = keystore.unlock(home, PASS)  # as the program that has the kit open holds them
    draft = Kit(Vault(home, keys.data_key), keys.device_key).new_draft(FORM, "ko")
    resume_cmd = f"collector drafts --resume {draft.draft_id[:8]}"
    states, resume = interview_states(seed)
    monkeypatch.setenv(PASS_ENV, PASS)
    saved: list[str] = []
    real_save = Kit.save_draft

    def save_draft(self: Kit, d: Any) -> None:
        real_save(self, d)
        saved.append(digest(d.answers))  # reached only once the save is durable

    monkeypatch.setattr(Kit, "save_draft", save_draft)
    at = 0
    frees = [0, *(700 + 4411 * rng.randint(1, 5) + rng.randint(0, 4410) for _ in range(4))]
    for free in frees:  # bytes left on the disk; each save writes about 4411
        lines = typed_lines(home, keys, draft.draft_id, seed)
        with monkeypatch.context() as m:
            m.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
            m.setattr(vault_module, "open", FullDisk(free), raising=False)
            code, _, err = run_cli(capsys, home, "drafts", "--resume", draft.draft_id[:8])
            assert code == 1 and "Traceback" not in err
            if free == 0:  # the wrong-try counter cannot be written: the kit does not open
                assert "(No space left on device)\nhint: check free disk space" in err
            else:
                assert f"the last answer was NOT saved: {NO_SPACE}" in err, err
                assert "every answer before it is saved; free some disk space" in err
                assert resume_cmd in err
            # The disk still full, the kit (open in memory) reads everything saved.
            kit = Kit(Vault(home, keys.data_key), keys.device_key)
            vault_verifies(home, kit)
            [d] = kit.drafts()
        if saved:
            assert digest(d.answers) == saved[-1]  # every answer saved is there
        now_at = states.index(digest(d.answers))  # and nothing half-written
        assert now_at >= at
        at = now_at
        q = Interview(FORM, d.answers, lang=d.lang).current()
        assert (q and q.path) == resume[states[at]]  # resumes at the unsaved answer
    assert 4 <= at < len(states) - 1

    # Space freed: the interview resumes where it stopped and is finished.
    lines = [*typed_lines(home, keys, draft.draft_id, seed), ":done"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = run_cli(capsys, home, "drafts", "--resume", draft.draft_id[:8])
    assert code == 0 and "interview finalized (complete)" in out, err
    kit = open_kit(home)
    assert kit.finalized() == [draft.record_id] and kit.drafts() == []
    kit.seal()
    [(_, opened)] = open_queued(open_kit(home), project)
    want = target(FORM, seed)
    assert opened.records[0].answers == {k: v for k, v in want.items() if v != []}
    project.close()


def test_a_full_disk_while_sealing_loses_and_duplicates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(55)
    project, _ = server_project(tmp_path)
    pristine = tmp_path / "pristine"
    new_kit(pristine, project)
    keys = keystore.unlock(pristine, PASS)
    kit = Kit(Vault(pristine, keys.data_key), keys.device_key)
    records = finalize_interviews(kit, range(3))
    kit.seal(max_records=2)
    records += finalize_interviews(kit, range(3, 10), attachment=os.urandom(150_000))
    monkeypatch.setenv(PASS_ENV, PASS)
    # How much a whole seal writes, on a disk with room enough.
    home = tmp_path / "measure"
    shutil.copytree(pristine, home)
    disk = FullDisk(10**12)
    with monkeypatch.context() as m:
        m.setattr(vault_module, "open", disk, raising=False)
        assert run_cli(capsys, home, "seal", "--max-records", "2")[0] == 0
    whole = 10**12 - disk.free
    sealed_once(home, project, records)

    fractions = sorted(rng.uniform(0.0, 1.0) for _ in range(7))
    outcomes = []
    for n, free in enumerate([0, *(int(whole * f) for f in fractions)]):
        home = tmp_path / f"full-{n}"
        shutil.copytree(pristine, home)
        with monkeypatch.context() as m:
            m.setattr(vault_module, "open", FullDisk(free), raising=False)
            code, _, err = run_cli(capsys, home, "seal", "--max-records", "2")
            assert code == 1 and "No space left on device" in err and "Traceback" not in err
            assert "check free disk space" in err  # what to do next
            # The disk still full: everything is readable, each record in one place.
            kit = Kit(Vault(home, keys.data_key), keys.device_key)
            vault_verifies(home, kit)
            exactly_once(places(kit, project), records)
            assert chain_of(kit, project) == list(range(1, len(kit.outbox()) + 1))
            st = kit.status()
            outcomes.append((st.sealed_not_uploaded, st.finalized))
        # Space freed: sealing again completes, and nothing was sealed twice.
        code, out, err = run_cli(capsys, home, "seal", "--max-records", "2")
        assert code == 0, err
        sealed_once(home, project, records)
        shutil.rmtree(home)
    assert len(set(outcomes)) >= 3, outcomes  # the disk filled up at different steps
    project.close()
    print(f"full disk while sealing: (queued, finalized) = {outcomes}")
