"""The audit log on either backend: `audit verify` and the check before serving read a
PostgreSQL store as they read a SQLite file (the same cases as test_audit_verify.py
that do not need SQLite itself: a fresh log, an edited entry, a deleted row, a history
cut short, an entry pinned by receipts), and several servers on one PostgreSQL database
sign checkpoints one at a time, under the store's signing lease (audit-log-v1.md §14.5).

Projects here are made with :func:`init_project` on the backend the test names; the
log is a synthetic one (an ``init``, a published form, ``export`` entries, receipts put
in by hand), so that it needs nothing but the audit log, forms and meta on PostgreSQL."""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from support.postgres import fresh_schema

import syncserver.audit.verify as audit_verify
from schemas.forms import shipped_form
from schemas.tlog import root_from_leaves
from schemas.wire import ReceiptBody, sign_receipt
from syncserver.audit.entries import AuditEntry, append, chain_mac, mac_key
from syncserver.audit.log import AuditLog, AuditLogBroken, check_before_serving
from syncserver.audit.tlog import sign_checkpoint
from syncserver.forms import publish_form
from syncserver.project import Project, init_project, open_project
from syncserver.project.config import Config, StoreSettings
from syncserver.project.keys import KdfParams, Secret

#: Fast Argon2id, tests only.
FAST_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
SECRET = Secret(passphrase="synthetic test passphrase")
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
T0 = 1_790_000_000_000
ACTOR = "cli:tester"
FORM = shipped_form("escapee-interview")
HINT_ENTRIES = (
    "the audit table was changed after it was written: keep this store file as evidence and "
    "compare it with a backup or with checkpoints saved earlier (`--checkpoint FILE`)"
)
#: How long a thread of a race waits for the others before the test fails.
PATIENCE = 20


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows come in batches of 3, so every pass crosses many batch boundaries."""
    monkeypatch.setattr(audit_verify, "BATCH", 3)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store a project of the test uses: a SQLite file in its directory, or a fresh
    PostgreSQL schema."""
    if request.param == "sqlite":
        yield "sqlite:store.db"
        return
    with fresh_schema() as u:
        yield u


def new_project(root: Path, url: str) -> Project:
    config = Config(store=StoreSettings(url=url))
    return init_project(root, SECRET, kdf=FAST_KDF, config=config, actor=ACTOR)


def export_entry(project: Project, n: int) -> int:
    entry = AuditEntry(kind="export", at_ms=T0 + n, actor=ACTOR, subject=f"synthetic {n}")
    return project.store.write_sync(lambda tx: append(tx, entry))


def tamper(where: Path | str, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Edit the store as an operator with a SQL shell could (``?`` placeholders)."""
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        with conn:
            for q, params in statements:
                conn.execute(q, params)
        conn.close()
        return
    import psycopg

    with psycopg.connect(where) as pg:
        for q, params in statements:
            pg.execute(q.replace("?", "%s"), params)


def entry_at(where: Path | str, idx: int) -> bytes:
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        (raw,) = conn.execute("SELECT entry FROM audit WHERE idx = ?", (idx,)).fetchone()
        conn.close()
        return bytes(raw)
    import psycopg

    with psycopg.connect(where) as pg:
        row = pg.execute("SELECT entry FROM audit WHERE idx = %s", (idx,)).fetchone()
    assert row is not None
    return bytes(row[0])


def rewrite(where: Path | str, idx: int, change: dict[str, object]) -> None:
    """Change entry ``idx`` and store the matching leaf hash too: no row shows the edit."""
    entry = msgspec.msgpack.decode(entry_at(where, idx))
    entry["detail"].update(change)
    raw = msgspec.msgpack.encode(entry)
    leaf = hashlib.sha256(b"\x00" + raw).digest()
    tamper(where, ("UPDATE audit SET entry = ?, leaf_hash = ? WHERE idx = ?", (raw, leaf, idx)))


def problem(report: audit_verify.VerifyReport) -> str | None:
    assert report.ok is (report.first_problem is None)
    return report.first_problem


@dataclass
class Log:
    """A closed project's log. Entries, by index:

    0 init · 1 form_publish · [checkpoint 2] · 2-6 export · [checkpoint 7] · 7-10 export,
    each with a receipt at checkpoint 11 · [checkpoint 11] · 11-14 export ·
    [checkpoint 15] · 15 export
    """

    root: Path
    where: Path | str
    vkey: str
    notes: dict[int, str]


@pytest.fixture
def log(url: str, tmp_path: Path) -> Log:
    project = new_project(tmp_path / "project", url)
    try:
        audit_log = AuditLog(project)
        notes: dict[int, str] = {}

        def checkpoint() -> None:
            size, _root, note = audit_log.checkpoint()
            notes[size] = note

        publish_form(project, FORM, now=NOW, actor=ACTOR)
        checkpoint()
        for n in range(2, 16):
            export_entry(project, n)
            if n in (6, 10, 14):
                checkpoint()
            if n == 10:
                receipts(project, audit_log, range(7, 11))
        assert sorted(notes) == [2, 7, 11, 15]
        vkey = audit_log.verifier_key
        where = project.config.store_location
    finally:
        project.close()  # the server is stopped: what is left is the store
    return Log(tmp_path / "project", where, vkey, notes)


def receipts(project: Project, audit_log: AuditLog, indexes: range) -> None:
    """A signed receipt for each entry, kept with a bundle row as ingest keeps it."""
    size, _root, note = audit_log.covering(indexes[-1])
    rows: list[tuple[str, tuple[object, ...]]] = []
    for i in indexes:
        raw = project.store.read_sync(lambda tx, i=i: tx.audit.entry(i))
        assert raw is not None
        bid = uuid.UUID(int=i)
        body = ReceiptBody(
            bundle_id=bid,
            sha256=bytes(32),
            size=1,
            received_at=NOW,
            log_index=i,
            log_entry=raw,
            checkpoint=note,
            inclusion_proof=audit_log.inclusion_proof(i, size),
        )
        receipt = msgspec.msgpack.encode(sign_receipt(body, project.identity.signing))
        rows.append(
            (
                "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state,"
                " receipt, audit_index) VALUES (?, ?, 1, ?, ?, 'accepted', ?, ?)",
                (bid.bytes, bytes(32), b"d" * 16, T0, receipt, i),
            )
        )
    tamper(project.config.store_location, *rows)


# -- audit verify, on either backend -------------------------------------------------------


def test_untouched_log_verifies_without_the_passphrase(log: Log) -> None:
    report = audit_verify.verify_log(log.where)
    assert report == audit_verify.VerifyReport(
        ok=True,
        entries=16,
        checkpoints=4,
        covered=15,
        verifier_key=log.vkey,
        key_pinned=False,
    )
    pinned = audit_verify.verify_log(log.where, key=log.vkey, saved={"cp15": log.notes[15]})
    assert pinned.ok and pinned.key_pinned and pinned.checkpoints == 4


def test_edited_entry_is_named(log: Log) -> None:
    raw = bytearray(entry_at(log.where, 5))
    raw[-1] ^= 0x01
    tamper(log.where, ("UPDATE audit SET entry = ? WHERE idx = 5", (bytes(raw),)))
    report = audit_verify.verify_log(log.where, key=log.vkey)
    assert problem(report) == (
        "entry 5 does not fit: its bytes do not hash to the stored leaf hash (edited?)"
    )
    assert (report.index, report.span, report.hint) == (5, None, HINT_ENTRIES)
    assert (report.entries, report.covered) == (5, 2)


def test_deleted_row_is_named(log: Log) -> None:
    tamper(log.where, ("DELETE FROM audit WHERE idx = 9", ()))
    report = audit_verify.verify_log(log.where, key=log.vkey)
    assert problem(report) == "entry 9 missing or out of order: found index 10"
    assert report.index == 9


def test_history_cut_short_is_caught_by_a_saved_checkpoint(log: Log) -> None:
    tamper(
        log.where,
        ("DELETE FROM audit WHERE idx >= 11", ()),
        ("DELETE FROM checkpoints WHERE size > 11", ()),
    )
    alone = audit_verify.verify_log(log.where, key=log.vkey)
    assert alone.ok and (alone.entries, alone.covered) == (11, 11)  # consistent on its own
    report = audit_verify.verify_log(log.where, key=log.vkey, saved={"cp15.txt": log.notes[15]})
    assert problem(report) == (
        "entry 11 missing: the checkpoint at size 15 (from cp15.txt) covers 15 entries, but the "
        "log has 11 (entries deleted from the end?)"
    )
    assert report.index == 11


def test_history_cut_short_is_caught_by_a_stored_checkpoint(log: Log) -> None:
    tamper(log.where, ("DELETE FROM audit WHERE idx >= 13", ()))
    assert problem(audit_verify.verify_log(log.where)) == (
        "entry 13 missing: the checkpoint at size 15 covers 15 entries, but the log has 13 "
        "(entries deleted from the end?)"
    )


def test_an_entry_rewritten_with_its_leaf_hash_is_pinned_by_the_receipts(log: Log) -> None:
    rewrite(log.where, 9, {"rows": 2})
    report = audit_verify.verify_log(log.where, key=log.vkey)
    assert problem(report) == (
        "entry 9 does not fit: the checkpoint at size 11 does not match the entries, and the "
        "inclusion proofs of 4 signed receipt(s) pin the first difference to this entry "
        "(edited together with its leaf hash, or moved?)"
    )
    assert (report.index, report.covered) == (9, 7)


def test_a_receipt_past_the_end_of_the_log_is_caught(log: Log) -> None:
    tamper(
        log.where,
        ("DELETE FROM audit WHERE idx >= 9", ()),
        ("DELETE FROM checkpoints WHERE size > 7", ()),
    )
    report = audit_verify.verify_log(log.where, key=log.vkey)
    # The receipts of entries 7-10 all name size 11: any of them comes first.
    named = {
        "entry 9 missing: the checkpoint at size 11 (in the receipt of bundle "
        f"{uuid.UUID(int=i)}) covers 11 entries, but the log has 9 (entries deleted from "
        "the end?)"
        for i in range(7, 11)
    }
    assert problem(report) in named
    assert (report.index, report.covered) == (9, 7)


# -- the check before serving, on either backend -------------------------------------------


def test_the_check_before_serving_passes_an_untouched_log(log: Log) -> None:
    project = open_project(log.root, SECRET)
    try:
        check = check_before_serving(project)
    finally:
        project.close()
    assert (check.entries, check.covered, check.unbound, check.unbound_rows) == (16, 15, 0, ())


def test_the_check_before_serving_refuses_a_row_added_by_hand(log: Log) -> None:
    raw = msgspec.msgpack.encode(
        {"kind": "export", "at_ms": T0 + 99, "actor": ACTOR, "subject": "by hand", "detail": {}}
    )
    leaf = hashlib.sha256(b"\x00" + raw).digest()
    tamper(
        log.where,
        ("INSERT INTO audit (idx, entry, leaf_hash, mac) VALUES (16, ?, ?, ?)", (raw, leaf, b"m")),
    )
    project = open_project(log.root, SECRET)
    try:
        with pytest.raises(AuditLogBroken) as e:
            check_before_serving(project)
    finally:
        project.close()
    where = "store.db" if isinstance(log.where, Path) else "the database"
    assert e.value.message == (
        "refusing to start: entry 16 of the audit log was not written by this server: it comes "
        "after the last signed checkpoint (size 15) and its MAC does not check (added or "
        f"changed in {where} by hand?)"
    )
    assert e.value.hint is not None and e.value.hint.startswith("run `syncserver audit verify`")
    if where == "the database":
        assert "pg_dump" in e.value.hint


def test_the_check_before_serving_checks_the_chain_of_the_tail(log: Log) -> None:
    # A valid MAC for a row added by hand needs the project's key: with it, it passes
    # (what the check is for: rows written by someone without the key).
    project = open_project(log.root, SECRET)
    try:
        key = mac_key(project.identity.store_key)
        links = project.store.read_sync(lambda tx: tx.audit.links(15))
        raw = msgspec.msgpack.encode(
            {"kind": "export", "at_ms": T0 + 99, "actor": ACTOR, "subject": "x", "detail": {}}
        )
        leaf = hashlib.sha256(b"\x00" + raw).digest()
        mac = chain_mac(key, links[-1].mac, 16, leaf)
        tamper(
            log.where,
            (
                "INSERT INTO audit (idx, entry, leaf_hash, mac) VALUES (16, ?, ?, ?)",
                (raw, leaf, mac),
            ),
        )
        assert check_before_serving(project).entries == 17
    finally:
        project.close()


# -- signing: alone on SQLite, under the lease on PostgreSQL -------------------------------


def _kept(project: Project) -> list[tuple[int, str]]:
    from syncserver.store.logsource import open_log_source

    source = open_log_source(project.config.store_location)
    assert source is not None
    try:
        return [(c.size, str(c.note)) for c in source.checkpoints(batch=100)]
    finally:
        source.close()


def test_a_checkpoint_covering_an_entry(url: str, tmp_path: Path) -> None:
    project = new_project(tmp_path / "p", url)
    try:
        audit_log = AuditLog(project)
        index = export_entry(project, 1)
        size, root, note = audit_log.covering(index)
        assert size == 2 and note.split("\n")[1] == "2"
        assert audit_log.covering(0) == (size, root, note)  # the newest, again
        if project.config.postgres:  # kept under the lease when signed
            assert _kept(project) == [(2, note)]
        else:  # the caller keeps it, with what it hands out (unchanged)
            assert _kept(project) == []
        assert audit_log.checkpoint() == (size, root, note)
        assert _kept(project) == [(2, note)]
        export_entry(project, 2)
        size3, _, note3 = audit_log.checkpoint()
        assert size3 == 3 and _kept(project) == [(2, note), (3, note3)]
    finally:
        project.close()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Project, Project]]:
    """Two servers of one project on one PostgreSQL database."""
    with fresh_schema() as url:
        a = new_project(tmp_path / "p", url)
        try:
            b = open_project(tmp_path / "p", SECRET)
            try:
                yield a, b
            finally:
                b.close()
        finally:
            a.close()


def _race(fns: list[Callable[[], object]]) -> list[object]:
    out: list[object] = [RuntimeError("not run")] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i: int) -> None:
        barrier.wait(PATIENCE)
        try:
            out[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 2)
    assert not any(t.is_alive() for t in threads), "a signer never finished"
    return out


@pytest.mark.postgres
def test_servers_signing_at_once_sign_one_checkpoint(
    two_servers: tuple[Project, Project],
) -> None:
    """Both servers need a checkpoint over entries committed before either asks: the
    first to hold the lease signs over all of them, the other uses what it kept."""
    a, b = two_servers
    logs = [AuditLog(a), AuditLog(b), AuditLog(a), AuditLog(b)]
    indexes = [export_entry(p, n) for n, p in enumerate([a, b, a, b])]
    got = _race(
        [lambda log=log, i=i: log.covering(i) for log, i in zip(logs, indexes, strict=True)]
    )
    assert all(isinstance(g, tuple) for g in got), got
    assert len(set(got)) == 1  # one checkpoint: (size, root, note)
    size, root, note = got[0]  # type: ignore[misc]
    assert size == 5
    assert _kept(a) == [(5, note)]
    leaves = [leaf.leaf_hash for leaf in a.store.read_sync(lambda tx: tx.audit.leaves(0))]
    assert root == root_from_leaves(leaves)
    for log in logs:  # every server hands out proofs against it
        assert log.inclusion_proof(4, 5) == logs[0].inclusion_proof(4, 5)
    assert audit_verify.verify_log(a.config.store_location, key=logs[0].verifier_key).ok


@pytest.mark.postgres
def test_servers_appending_and_signing_at_once_agree(
    two_servers: tuple[Project, Project],
) -> None:
    """Each server appends and at once asks for a checkpoint covering its entry, many
    times: every checkpoint covers the entry it was asked for, and every one kept is one
    consistent history."""
    a, b = two_servers
    logs = {id(a): AuditLog(a), id(b): AuditLog(b)}

    def work(p: Project, k: int) -> Callable[[], object]:
        def run() -> object:
            out = []
            for n in range(6):
                i = export_entry(p, 100 * k + n)
                size, _root, note = logs[id(p)].covering(i)
                assert size > i
                out.append((i, size, note))
            return out

        return run

    got = _race([work(a, 1), work(b, 2), work(a, 3), work(b, 4)])
    assert all(isinstance(g, list) for g in got), got
    kept = dict(_kept(a))
    for g in got:
        assert isinstance(g, list)
        for _i, size, note in g:
            assert kept[size] == note  # every checkpoint handed out was kept
    report = audit_verify.verify_log(a.config.store_location, key=logs[id(a)].verifier_key)
    assert report.ok and report.entries == 25 and report.checkpoints == len(kept)


@pytest.mark.postgres
def test_a_kept_checkpoint_this_server_would_not_sign_is_refused(
    two_servers: tuple[Project, Project],
) -> None:
    a, b = two_servers
    export_entry(a, 1)
    # A note at size 2 over other entries (signed with the project's key: a server
    # whose tree went astray, or the table edited by someone holding the key).
    forged = sign_checkpoint(
        a.log_origin, 2, hashlib.sha256(b"other").digest(), a.log_origin, a.identity.signing
    )
    tamper(a.config.store_location, ("INSERT INTO checkpoints VALUES (2, ?, ?)", (forged, T0)))
    with pytest.raises(AuditLogBroken) as e:
        AuditLog(b).covering(1)
    assert e.value.message == (
        "the checkpoint kept at size 2 is not the one this server signs over the same entries"
    )
    assert e.value.hint is not None and "pg_dump" in e.value.hint
