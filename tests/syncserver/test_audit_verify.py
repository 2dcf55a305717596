"""`syncserver audit verify|show`: a log made by real operations, then the SQLite file
edited by hand the way a server operator could, and the verifier naming what changed."""

from __future__ import annotations

import argparse
import ast
import asyncio
import base64
import datetime
import hashlib
import io
import json
import random
import sqlite3
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import make_record, seal_for
from support.project import NOW, new_project
from support.uploader import enroll_offline

import syncserver.audit.verify as audit_verify
from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.tlog import NoteVerifier, root_from_leaves
from syncserver.access import devices
from syncserver.audit.log import AuditLog
from syncserver.audit.tlog import sign_checkpoint
from syncserver.cli import _audit as cli_audit
from syncserver.cli._common import project_options
from syncserver.errors import ProjectMissing, StoreError, SyncServerError
from syncserver.forms import publish_form
from syncserver.ingest import ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project
from syncserver.service import Service

FORM = shipped_form("escapee-interview")
HOUR = datetime.timedelta(hours=1)
HINT_ENTRIES = (
    "the audit table was changed after it was written: keep this store file as evidence and "
    "compare it with a backup or with checkpoints saved earlier (`--checkpoint FILE`)"
)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows come in batches of 3, so every pass crosses many batch boundaries."""
    monkeypatch.setattr(audit_verify, "BATCH", 3)


@dataclass
class Log:
    """A closed project's log. Entries, by index:

    0 init · 1 form_publish · [checkpoint 2] · 2 enroll · [checkpoint 3] ·
    bundle 1: 3 upload, 4-5 accept (records), 6 accept (bundle) · [checkpoint 7] ·
    bundle 2: 7 upload, 8-9 accept, 10 accept · [checkpoint 11] ·
    bundle 3: 11 upload, 12-13 accept, 14 accept · [checkpoint 15] · 15 token
    """

    db: Path
    origin: str
    vkey: str
    notes: dict[int, str]
    bundles: list[uuid.UUID]


def answers(seed: int) -> dict:  # type: ignore[type-arg]
    return synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})


def upload(project, area, device_id, data: bytes, now):  # type: ignore[no-untyped-def]
    bid = read_header(io.BytesIO(data)).bundle_id
    area.append(bid, 0, data, len(data))
    persist_upload(project, area, bid, device_id, len(data), hashlib.sha256(data).digest(), now=now)
    return bid


def enroll(project: Project) -> tuple[Ed25519PrivateKey, uuid.UUID]:
    return enroll_offline(project, now=NOW)


@pytest.fixture
def log(project: Project) -> Log:
    audit_log = AuditLog(project)
    notes: dict[int, str] = {}

    def checkpoint() -> None:
        size, _root, note = audit_log.checkpoint()
        notes[size] = note

    publish_form(project, FORM, now=NOW, actor="cli:tester")
    checkpoint()
    key, dev = enroll(project)
    checkpoint()
    area, forms = UploadArea(project.config.root), Preparer.for_project(project)
    prev, bundles = bytes(32), []
    for seq in (1, 2, 3):
        at = NOW + seq * HOUR
        records = [make_record(FORM, answers(10 * seq + i)) for i in range(2)]
        data = seal_for(project, key, dev, records, seq=seq, prev=prev)
        bid = upload(project, area, dev, data, at)
        assert ingest_bundle(project, area, forms, bid, now=at).accepted == 2
        prev = hashlib.sha256(data).digest()
        bundles.append(bid)
        checkpoint()
    devices.create_token(project, "kit 9", now=NOW + 4 * HOUR, actor="cli:tester")
    assert sorted(notes) == [2, 3, 7, 11, 15]
    vkey = audit_log.verifier_key
    project.store.close()  # the server is stopped: what is left is the file
    return Log(project.config.sqlite_path, project.log_origin, vkey, notes, bundles)


def tamper(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Edit the store as an operator with a SQLite shell could."""
    conn = sqlite3.connect(db)
    with conn:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def entry_at(db: Path, idx: int) -> bytes:
    conn = sqlite3.connect(db)
    (raw,) = conn.execute("SELECT entry FROM audit WHERE idx = ?", (idx,)).fetchone()
    conn.close()
    return bytes(raw)


def rewrite(db: Path, idx: int, change: dict[str, object]) -> None:
    """Change entry ``idx`` and store the matching leaf hash too: no row shows the edit."""
    entry = msgspec.msgpack.decode(entry_at(db, idx))
    entry["detail"].update(change)
    raw = msgspec.msgpack.encode(entry)
    leaf = hashlib.sha256(b"\x00" + raw).digest()
    tamper(db, ("UPDATE audit SET entry = ?, leaf_hash = ? WHERE idx = ?", (raw, leaf, idx)))


def key_name(vkey: str) -> str:
    return "+".join(vkey.split("+", 2)[:2])


def problem(report: audit_verify.VerifyReport) -> str | None:
    assert report.ok is (report.first_problem is None)
    return report.first_problem


# -- an untouched log --------------------------------------------------------------------


def test_untouched_log_verifies_without_the_passphrase(log: Log) -> None:
    before = log.db.read_bytes()
    report = audit_verify.verify_log(log.db)
    assert report == audit_verify.VerifyReport(
        ok=True,
        entries=16,
        checkpoints=5,
        covered=15,
        verifier_key=log.vkey,  # derived from the store: the writer's key string exactly
        key_pinned=False,
    )
    pinned = audit_verify.verify_log(log.db, key=log.vkey, saved={"cp15": log.notes[15]})
    assert pinned.ok and pinned.key_pinned and pinned.checkpoints == 5
    assert log.db.read_bytes() == before  # opened read-only


def test_the_verifier_shares_no_code_with_the_writer() -> None:
    here = Path(audit_verify.__file__).parent
    imported = {
        ("." * node.level + (node.module or "")) if isinstance(node, ast.ImportFrom) else alias.name
        for name in ("verify.py", "access_check.py")  # the log, the rows it binds
        for node in ast.walk(ast.parse((here / name).read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {"schemas.tlog", "schemas.wire", "schemas.certs", ".access_check"} <= imported
    # The writer: the audit package's entries, log and tlog, the project and its keys.
    writer = {".entries", ".log", ".tlog", "..project", "..project.keys", "..store"}
    assert not writer & imported
    assert not any(m.startswith(("syncserver.", ".entries", ".log", ".tlog")) for m in imported)


# -- a changed row is named exactly ------------------------------------------------------


def test_edited_entry_is_named(log: Log) -> None:
    raw = bytearray(entry_at(log.db, 5))
    raw[-1] ^= 0x01
    tamper(log.db, ("UPDATE audit SET entry = ? WHERE idx = 5", (bytes(raw),)))
    report = audit_verify.verify_log(log.db, key=log.vkey)
    assert problem(report) == (
        "entry 5 does not fit: its bytes do not hash to the stored leaf hash (edited?)"
    )
    assert (report.index, report.span, report.hint) == (5, None, HINT_ENTRIES)
    assert (report.entries, report.covered) == (5, 3)


def test_edited_leaf_hash_is_named(log: Log) -> None:
    tamper(log.db, ("UPDATE audit SET leaf_hash = ? WHERE idx = 15", (bytes(32),)))
    report = audit_verify.verify_log(log.db)
    assert problem(report) == (
        "entry 15 does not fit: its bytes do not hash to the stored leaf hash (edited?)"
    )
    assert report.index == 15


def test_deleted_row_is_named(log: Log) -> None:
    tamper(log.db, ("DELETE FROM audit WHERE idx = 9", ()))
    report = audit_verify.verify_log(log.db, key=log.vkey)
    assert problem(report) == "entry 9 missing or out of order: found index 10"
    assert report.index == 9


def test_row_moved_to_the_end_is_named(log: Log) -> None:
    tamper(log.db, ("UPDATE audit SET idx = 16 WHERE idx = 4", ()))
    report = audit_verify.verify_log(log.db)
    assert problem(report) == "entry 4 missing or out of order: found index 5"


def test_first_row_deleted_is_named(log: Log) -> None:
    tamper(log.db, ("DELETE FROM audit WHERE idx = 0", ()))
    assert problem(audit_verify.verify_log(log.db)) == (
        "entry 0 missing or out of order: found index 1"
    )


def test_entry_that_is_not_an_audit_entry_is_named(log: Log) -> None:
    raw = msgspec.msgpack.encode(42)
    leaf = hashlib.sha256(b"\x00" + raw).digest()
    tamper(log.db, ("UPDATE audit SET entry = ?, leaf_hash = ? WHERE idx = 15", (raw, leaf)))
    report = audit_verify.verify_log(log.db)
    assert problem(report) == (
        "entry 15 does not fit: it is not an audit entry (Expected `object`, got `int`)"
    )


# -- what no single row shows: named by the checkpoints ----------------------------------


def test_swapped_rows_are_named_where_checkpoints_pin_them(log: Log) -> None:
    # Entry and leaf hash move together, so indexes stay dense and every row fits its
    # own hash; the checkpoints at sizes 2 and 3 leave one candidate: entry 2.
    tamper(
        log.db,
        ("UPDATE audit SET idx = -1 WHERE idx = 2", ()),
        ("UPDATE audit SET idx = 2 WHERE idx = 9", ()),
        ("UPDATE audit SET idx = 9 WHERE idx = -1", ()),
    )
    report = audit_verify.verify_log(log.db, key=log.vkey)
    assert problem(report) == (
        "entry 2 does not fit: the checkpoint at size 3 does not match the entries, but the "
        "checkpoint at size 2 does (edited together with its leaf hash, or moved?)"
    )
    assert (report.index, report.span, report.covered) == (2, None, 2)


def test_swapped_rows_between_checkpoints_are_named_to_a_range(log: Log) -> None:
    tamper(
        log.db,
        ("UPDATE audit SET idx = -1 WHERE idx = 4", ()),
        ("UPDATE audit SET idx = 4 WHERE idx = 5", ()),
        ("UPDATE audit SET idx = 5 WHERE idx = -1", ()),
    )
    report = audit_verify.verify_log(log.db)
    assert problem(report) == (
        "checkpoint at size 7 does not match the entries: the first entry that does not fit "
        "lies in 3..6"
    )
    assert (report.index, report.span) == (None, (3, 6))


def test_entry_rewritten_with_its_leaf_hash_fails_at_the_next_checkpoint(log: Log) -> None:
    rewrite(log.db, 8, {"version": 2})
    report = audit_verify.verify_log(log.db, key=log.vkey)
    assert problem(report) == (
        "checkpoint at size 11 does not match the entries: the first entry that does not fit "
        "lies in 7..10"
    )
    assert (report.span, report.covered, report.checkpoints, report.entries) == ((7, 10), 7, 3, 11)
    assert report.hint == HINT_ENTRIES


def test_entry_rewritten_after_the_last_checkpoint_is_not_seen(log: Log) -> None:
    # The limit, stated: nothing signed covers entry 15 yet, and the row it binds was
    # rewritten with it. (The server's check before serving sees it by the entry's MAC:
    # test_audit_binding.py.)
    rewrite(log.db, 15, {"expires_ms": 0})
    tamper(log.db, ("UPDATE enroll_tokens SET expires_ms = 0", ()))
    report = audit_verify.verify_log(log.db, key=log.vkey)
    assert report.ok and (report.entries, report.covered) == (16, 15)


def test_history_cut_short_is_caught_by_a_saved_checkpoint(log: Log) -> None:
    tamper(
        log.db,
        ("DELETE FROM audit WHERE idx >= 11", ()),
        ("DELETE FROM checkpoints WHERE size > 11", ()),
        ("DELETE FROM enroll_tokens", ()),  # the row entry 15 made goes too
    )
    alone = audit_verify.verify_log(log.db, key=log.vkey)
    assert alone.ok and (alone.entries, alone.covered) == (11, 11)  # consistent on its own
    report = audit_verify.verify_log(log.db, key=log.vkey, saved={"cp15.txt": log.notes[15]})
    assert problem(report) == (
        "entry 11 missing: the checkpoint at size 15 (from cp15.txt) covers 15 entries, but the "
        "log has 11 (entries deleted from the end?)"
    )
    assert report.index == 11


def test_history_cut_short_is_caught_by_a_stored_checkpoint(log: Log) -> None:
    tamper(log.db, ("DELETE FROM audit WHERE idx >= 13", ()))
    assert problem(audit_verify.verify_log(log.db)) == (
        "entry 13 missing: the checkpoint at size 15 covers 15 entries, but the log has 13 "
        "(entries deleted from the end?)"
    )


def test_history_rewritten_with_its_checkpoints_is_caught_by_a_saved_checkpoint(
    log: Log,
) -> None:
    rewrite(log.db, 12, {"version": 7})
    tamper(log.db, ("DELETE FROM checkpoints WHERE size = 15", ()))
    assert audit_verify.verify_log(log.db, key=log.vkey).ok
    report = audit_verify.verify_log(log.db, key=log.vkey, saved={"cp15.txt": log.notes[15]})
    assert problem(report) == (
        "checkpoint at size 15 (from cp15.txt) does not match the entries: the first entry that "
        "does not fit lies in 11..14"
    )


def test_saved_checkpoint_that_matches_an_earlier_size(log: Log) -> None:
    rewrite(log.db, 4, {"version": 3})
    tamper(log.db, ("DELETE FROM checkpoints WHERE size > 3", ()))
    report = audit_verify.verify_log(log.db, saved={"a": log.notes[7], "b": log.notes[11]})
    assert problem(report) == (
        "checkpoint at size 7 (from a) does not match the entries: the first entry that does "
        "not fit lies in 3..6"
    )


# -- checkpoints and keys ----------------------------------------------------------------


def test_checkpoint_re_signed_by_another_key_fails(log: Log) -> None:
    text = log.notes[7].split("\n\n")[0].split("\n")
    size, root = int(text[1]), base64.b64decode(text[2])
    forged = sign_checkpoint(log.origin, size, root, log.origin, Ed25519PrivateKey.generate())
    tamper(log.db, ("UPDATE checkpoints SET note = ? WHERE size = 7", (forged,)))
    report = audit_verify.verify_log(log.db)
    assert problem(report) == (
        f"checkpoint at size 7 does not verify with the key {key_name(log.vkey)} "
        "(no signature by a known key: 1 signature(s), none known)"
    )
    assert report.hint is not None and report.hint.startswith("the checkpoint was not signed")
    assert (report.entries, report.covered) == (7, 3)


def test_checkpoint_moved_to_another_size_fails(log: Log) -> None:
    tamper(log.db, ("UPDATE checkpoints SET size = 8 WHERE size = 7", ()))
    assert problem(audit_verify.verify_log(log.db)) == (
        "checkpoint at size 8 is signed for size 7 (the checkpoints table was edited)"
    )


def test_key_of_another_project_fails(log: Log, tmp_path: Path) -> None:
    other = new_project(tmp_path / "other")
    try:
        other_vkey = AuditLog(other).verifier_key
    finally:
        other.close()
    report = audit_verify.verify_log(log.db, key=other_vkey)
    assert problem(report) == (
        f"the key is for the log {other.log_origin}, but this store holds the log {log.origin}"
    )
    assert (report.entries, report.key_pinned, report.verifier_key) == (0, True, other_vkey)


def test_pinned_key_catches_a_store_that_was_re_keyed(log: Log) -> None:
    # Rewrite an entry, replace the store's key and re-sign every checkpoint with it:
    # the store agrees with itself, and only the pinned key tells.
    rewrite(log.db, 8, {"version": 2})
    rogue = Ed25519PrivateKey.generate()
    conn = sqlite3.connect(log.db)
    leaves = [bytes(h) for (h,) in conn.execute("SELECT leaf_hash FROM audit ORDER BY idx")]
    conn.close()
    statements: list[tuple[str, tuple[object, ...]]] = [
        (
            "UPDATE meta SET value = ? WHERE key = 'signing_public'",
            (rogue.public_key().public_bytes_raw(),),
        )
    ]
    for size in log.notes:
        note = sign_checkpoint(log.origin, size, root_from_leaves(leaves[:size]), log.origin, rogue)
        statements.append(("UPDATE checkpoints SET note = ? WHERE size = ?", (note, size)))
    tamper(log.db, *statements)
    # Unpinned, the log is fooled, as it must be; only the device's certificate, signed
    # with the project's real key, no longer verifies with the store's.
    unpinned = audit_verify.verify_log(log.db)
    assert (unpinned.entries, unpinned.covered, unpinned.checkpoints) == (16, 15, 5)
    assert [d.split(": ", 1)[1] for d in unpinned.differences] == [
        "its certificate does not verify with the log's key"
    ]
    report = audit_verify.verify_log(log.db, key=log.vkey)
    rogue_name = NoteVerifier.from_public_key(log.origin, rogue.public_key().public_bytes_raw())
    assert problem(report) == (
        f"the store's signing key ({log.origin}+{rogue_name.key_id.hex()}) is not the pinned "
        f"key ({key_name(log.vkey)})"
    )


def test_saved_checkpoint_of_another_log_is_reported(log: Log, tmp_path: Path) -> None:
    other = new_project(tmp_path / "other")
    try:
        _size, _root, note = AuditLog(other).checkpoint()
    finally:
        other.close()
    report = audit_verify.verify_log(log.db, saved={"theirs.txt": note})
    assert problem(report) == (
        f"the checkpoint in theirs.txt does not verify with the key {key_name(log.vkey)} "
        "(no signature by a known key: 1 signature(s), none known)"
    )


def test_unusable_inputs_are_errors_not_verdicts(log: Log, tmp_path: Path) -> None:
    with pytest.raises(SyncServerError, match=r"^--key is not a verifier key \("):
        audit_verify.verify_log(log.db, key="not-a-key")
    with pytest.raises(ProjectMissing, match="no store at"):
        audit_verify.verify_log(tmp_path / "nothing.db")
    stranger = tmp_path / "stranger.db"
    sqlite3.connect(stranger).execute("CREATE TABLE t (a)").connection.close()
    with pytest.raises(StoreError, match="is not a sealsync store"):
        audit_verify.verify_log(stranger)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot be read"):
        audit_verify.verify_log(junk)


# -- receipts narrow what the checkpoints leave open -------------------------------------


@pytest.fixture
def served(project: Project) -> Log:
    """The same kind of log, uploaded through the service: every bundle has a receipt.

    0 init · 1 form_publish · 2 enroll · then per bundle (one record each): upload,
    accept (record), accept (bundle), and the receipt's checkpoint: bundles at 3-5 [6],
    6-8 [9], 9-11 [12], 12-14 [15].
    """
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    key, dev = enroll(project)
    service = Service(project)
    notes: dict[int, str] = {}
    prev, bundles = bytes(32), []
    for seq in (1, 2, 3, 4):
        data = seal_for(project, key, dev, [make_record(FORM, answers(seq))], seq=seq, prev=prev)
        bid = read_header(io.BytesIO(data)).bundle_id
        service.area.append(bid, 0, data, len(data))
        sha = hashlib.sha256(data).digest()
        receipt = asyncio.run(
            service.complete_upload(bid, dev, len(data), sha, now=NOW + seq * HOUR)
        )
        body = msgspec.msgpack.decode(receipt.body)
        notes[int(body["checkpoint"].split("\n")[1])] = body["checkpoint"]
        prev = sha
        bundles.append(bid)
    assert sorted(notes) == [6, 9, 12, 15]
    vkey = service.log.verifier_key
    project.store.close()
    return Log(project.config.sqlite_path, project.log_origin, vkey, notes, bundles)


def test_receipts_pin_a_rewritten_upload_entry(served: Log) -> None:
    rewrite(served.db, 6, {"size": 1})
    report = audit_verify.verify_log(served.db, key=served.vkey)
    assert problem(report) == (
        "entry 6 does not fit: the checkpoint at size 9 does not match the entries, and the "
        "inclusion proofs of 2 signed receipt(s) pin the first difference to this entry "
        "(edited together with its leaf hash, or moved?)"
    )
    assert (report.index, report.span) == (6, None)


def test_receipts_pin_a_rewritten_entry_beside_an_upload(served: Log) -> None:
    rewrite(served.db, 7, {"version": 5})
    report = audit_verify.verify_log(served.db)
    assert report.index == 7 and problem(report) == (
        "entry 7 does not fit: the checkpoint at size 9 does not match the entries, and the "
        "inclusion proofs of 2 signed receipt(s) pin the first difference to this entry "
        "(edited together with its leaf hash, or moved?)"
    )


def test_receipts_pin_swapped_rows(served: Log) -> None:
    # Swap the two last entries of bundle 4 (13 and 14): the receipt of bundle 4 proves
    # entry 12, entry 13 and entry 14 one by one (its inclusion path).
    tamper(
        served.db,
        ("UPDATE audit SET idx = -1 WHERE idx = 13", ()),
        ("UPDATE audit SET idx = 13 WHERE idx = 14", ()),
        ("UPDATE audit SET idx = 14 WHERE idx = -1", ()),
    )
    report = audit_verify.verify_log(served.db)
    assert problem(report) == (
        "entry 13 does not fit: the checkpoint at size 15 does not match the entries, and the "
        "inclusion proofs of 1 signed receipt(s) pin the first difference to this entry "
        "(edited together with its leaf hash, or moved?)"
    )


def test_receipts_narrow_swapped_rows_to_a_range(served: Log) -> None:
    # Swap entries 0 and 1: no receipt proves either alone, but two prove the subtree of
    # entries 0..1 (or 0..3) changed and that entries 2..5 did not.
    tamper(
        served.db,
        ("UPDATE audit SET idx = -1 WHERE idx = 0", ()),
        ("UPDATE audit SET idx = 0 WHERE idx = 1", ()),
        ("UPDATE audit SET idx = 1 WHERE idx = -1", ()),
    )
    report = audit_verify.verify_log(served.db)
    assert problem(report) == (
        "checkpoint at size 6 does not match the entries: the first entry that does not fit "
        "lies in 0..1 (narrowed from 0..5 by the inclusion proofs of 2 signed receipt(s))"
    )
    assert (report.index, report.span) == (None, (0, 1))


def test_receipts_keep_checkpoints_the_table_lost(served: Log) -> None:
    tamper(
        served.db,
        ("DELETE FROM audit WHERE idx >= 12", ()),
        ("DELETE FROM checkpoints WHERE size > 12", ()),
    )
    report = audit_verify.verify_log(served.db, key=served.vkey)
    bundle = served.bundles[3]
    assert problem(report) == (
        f"entry 12 missing: the checkpoint at size 15 (in the receipt of bundle {bundle}) covers "
        "15 entries, but the log has 12 (entries deleted from the end?)"
    )


def test_unreadable_receipts_are_counted_and_skipped(served: Log) -> None:
    tamper(
        served.db,
        ("UPDATE bundles SET receipt = ? WHERE bundle_id = ?", (b"\xc1", served.bundles[0].bytes)),
    )
    report = audit_verify.verify_log(served.db, key=served.vkey)
    assert report.ok and report.receipts_unreadable == 1 and report.checkpoints == 4


# -- the command line --------------------------------------------------------------------


def cli(*argv: str) -> int:
    """The `audit` command as syncserver.cli.main would run it."""
    parser = argparse.ArgumentParser(prog="syncserver")
    cli_audit.register(parser.add_subparsers(dest="command"), project_options)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except SyncServerError as e:
        print(f"syncserver: {e}", file=sys.stderr)
        return 1
    return code


def test_cli_verify_ok(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("audit", "verify", "--dir", str(log.db.parent)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "audit log verified: 16 entries, 5 signed checkpoint(s), the latest covering 15 entries",
        f"  key {log.vkey} (read from the store)",
        "  note: entries 15..15 come after the last signed checkpoint: only their leaf hashes "
        "were checked",
        "  note: pin the key with --key for an audit that does not trust the store",
    ]


def test_cli_verify_names_the_entry(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "cp15.txt"
    saved.write_text(log.notes[15], encoding="utf-8")
    db, key = str(log.db), log.vkey
    assert cli("audit", "verify", "--db", db, "--key", key, "--checkpoint", str(saved)) == 0
    capsys.readouterr()
    raw = bytearray(entry_at(log.db, 12))
    raw[3] ^= 0x40
    tamper(log.db, ("UPDATE audit SET entry = ? WHERE idx = 12", (bytes(raw),)))
    assert cli("audit", "verify", "--db", str(log.db), "--key", log.vkey) == 1
    assert capsys.readouterr().err.splitlines() == [
        "syncserver: audit log does not verify: entry 12 does not fit: its bytes do not hash "
        "to the stored leaf hash (edited?)",
        f"hint: {HINT_ENTRIES}",
    ]


def test_cli_verify_with_a_missing_checkpoint_file(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "gone.txt"
    assert cli("audit", "verify", "--db", str(log.db), "--checkpoint", str(missing)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"syncserver: cannot read the checkpoint file {missing} (")
    assert "\nhint: " in err


def test_cli_without_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("audit", "show", "--dir", str(tmp_path)) == 1
    assert "no sealsync.toml in" in capsys.readouterr().err


# -- audit show ----------------------------------------------------------------------------


def test_show_filters(log: Log) -> None:
    every = list(audit_verify.show_entries(log.db, limit=0))
    assert [e.index for e in every] == list(range(16))
    assert [e.kind for e in every][:4] == ["init", "form_publish", "enroll", "upload"]
    uploads = list(audit_verify.show_entries(log.db, kind="upload"))
    assert [(e.index, e.subject) for e in uploads] == [
        (3, str(log.bundles[0])),
        (7, str(log.bundles[1])),
        (11, str(log.bundles[2])),
    ]
    assert uploads[0].actor.startswith("device:") and set(uploads[0].detail) == {"sha256", "size"}
    about = list(audit_verify.show_entries(log.db, subject=str(log.bundles[1])))
    assert [(e.index, e.kind) for e in about] == [(7, "upload"), (10, "accept")]
    since = int((NOW + 2 * HOUR).timestamp() * 1000)
    later = list(audit_verify.show_entries(log.db, kind="upload", since_ms=since))
    assert [e.index for e in later] == [7, 11]
    first = list(audit_verify.show_entries(log.db, limit=2))
    assert [e.index for e in first] == [0, 1]
    last = list(audit_verify.show_entries(log.db, limit=2, newest_first=True))
    assert [(e.index, e.kind) for e in last] == [(15, "token"), (14, "accept")]
    assert list(audit_verify.show_entries(log.db, kind="revoke")) == []


def test_show_refuses_an_entry_it_cannot_read(log: Log) -> None:
    tamper(log.db, ("UPDATE audit SET entry = ? WHERE idx = 2", (b"\xc1",)))
    with pytest.raises(SyncServerError, match="^entry 2 is not an audit entry"):
        list(audit_verify.show_entries(log.db))


def test_cli_show(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(log.db.parent)
    assert cli("audit", "show", "--dir", d, "--kind", "upload", "--since", "2026-11-23T14:00") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:4] == ["7", "2026-11-23T14:00:00Z", "upload", str(log.bundles[1])]
    assert cli("audit", "show", "--dir", d, "--subject", str(log.bundles[2]), "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["index"], r["kind"], r["subject"]) for r in rows] == [
        (11, "upload", str(log.bundles[2])),
        (14, "accept", str(log.bundles[2])),
    ]
    detail = {"records": 2, "quarantined": 0, "device_seq": 3, "chain_gap": False}
    assert rows[1]["detail"] == detail
    assert cli("audit", "show", "--dir", d, "--kind", "revoke") == 0
    assert capsys.readouterr().err == "no entries match\n"
    assert cli("audit", "show", "--dir", d, "--limit", "1", "--newest") == 0
    assert capsys.readouterr().out.split()[:4] == ["15", "2026-11-23T16:00:00Z", "token", '"kit']


def test_cli_show_rejects_a_bad_time(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli("audit", "show", "--dir", str(log.db.parent), "--since", "yesterday")
    assert "is not a date or time" in capsys.readouterr().err
