"""State that decides who may act is bound to the log (issue 11; audit-log-v1.md §14).

An operator with write access to store.db, and no project key, edits it the way a SQLite
shell could: un-revokes a device, raises a token's role, adds a device, appends an entry
after the last signed checkpoint. `syncserver audit verify` names every row that differs
from the log; `syncserver run` refuses to start (and so to sign anything) over such a
store, and starts over the tail that sealsync itself wrote."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from support.project import init_by_cli, reopen
from support.uploader import device_request

import syncserver.web
from syncserver.audit.entries import AuditEntry, append, encode_entry
from syncserver.audit.log import AuditLog
from syncserver.audit.verify import show_entries, verify_log
from syncserver.cli import main
from syncserver.errors import StoreError
from syncserver.project import Project
from syncserver.store import SqliteStore

HINT = (
    "hint: run `syncserver audit verify` to see where; keep this store.db as evidence (copy "
    "it aside), then restore store.db from a backup made before the change"
)


@dataclass
class Proj:
    dir: Path
    key: Path
    device: uuid.UUID
    capsys: pytest.CaptureFixture[str]
    served: list[Any]

    @property
    def db(self) -> Path:
        return self.dir / "store.db"

    def cli(self, *argv: str) -> int:
        return main([*argv, "--dir", str(self.dir), "--key-file", str(self.key)])

    def ok(self, *argv: str) -> str:
        assert self.cli(*argv) == 0, self.capsys.readouterr()
        return self.capsys.readouterr().out

    def open(self) -> Project:
        return reopen(self.dir, key_file=self.key)

    def checkpoint(self) -> int:
        """Sign and store a checkpoint, as the server does for a receipt."""
        project = self.open()
        try:
            size, _, _ = AuditLog(project).checkpoint()
        finally:
            project.close()
        return size

    def verify(self) -> tuple[int, str, str]:
        code = main(["audit", "verify", "--dir", str(self.dir)])
        out, err = self.capsys.readouterr()
        return code, out, err

    def run(self) -> tuple[int, str, str]:
        code = self.cli("run", "--port", "0")
        out, err = self.capsys.readouterr()
        return code, out, err


def sql(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Edit the store as an operator with a SQLite shell could (no project key)."""
    conn = sqlite3.connect(db)
    with conn:
        for q, params in statements:
            conn.execute(q, params)
    conn.close()


@pytest.fixture
def proj(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Proj]:
    """A project made by the CLI: an enrollment token 'kit 3', an auditor token 'ops', a
    device enrolled offline (serial 1); then a checkpoint signed at that size."""
    monkeypatch.setattr(getpass, "getuser", lambda: "amara")
    served: list[Any] = []
    monkeypatch.setattr(syncserver.web, "serve", lambda *a, **kw: served.append(kw))
    key, d = tmp_path / "project.key", tmp_path / "proj"
    init_by_cli(d, key)
    capsys.readouterr()
    p = Proj(d, key, uuid.UUID(int=0), capsys, served)
    p.ok("devices", "token", "--label", "kit 3")
    p.ok("tokens", "create", "--role", "auditor", "--label", "ops")
    _, req = device_request(label="kit-4")
    (tmp_path / "req.json").write_bytes(msgspec.json.encode(req))
    p.ok("devices", "enroll-file", str(tmp_path / "req.json"), "-o", str(tmp_path / "resp.json"))
    listing = p.ok("devices", "list")
    p.device = uuid.UUID(next(w for w in listing.split() if w.count("-") == 4))
    assert p.checkpoint() == 4
    yield p


# -- a store nobody touched --------------------------------------------------------------


def test_a_fresh_project_verifies_clean_and_starts(proj: Proj) -> None:
    report = verify_log(proj.db)
    assert report.ok and (report.differences, report.unbound) == ((), ())
    assert (report.entries, report.covered) == (4, 4)
    code, out, err = proj.verify()
    assert code == 0 and "note: device" not in out and err == ""
    code, out, _ = proj.run()
    assert code == 0 and "audit log checked: 4 entries" in out and len(proj.served) == 1


def test_a_tail_written_by_sealsync_after_the_last_checkpoint_starts(proj: Proj) -> None:
    proj.ok("devices", "revoke", str(proj.device), "--reason", "lost")
    proj.ok("tokens", "revoke", "ops")
    proj.ok("tokens", "create", "--role", "manager", "--label", "ops")
    from syncserver.audit.log import check_before_serving

    project = proj.open()
    try:
        check = check_before_serving(project)
    finally:
        project.close()
    assert (check.entries, check.covered, check.unbound) == (7, 4, 0)
    code, out, _ = proj.run()
    assert code == 0 and "audit log checked: 7 entries" in out and len(proj.served) == 1


# -- access rows changed by SQL: named, and the server refuses ---------------------------


def test_a_device_unrevoked_by_sql_is_named_and_the_server_refuses(proj: Proj) -> None:
    proj.ok("devices", "revoke", str(proj.device), "--reason", "lost")
    (revoked,) = [e for e in show_entries(proj.db, kind="revoke")]
    sql(proj.db, ("UPDATE devices SET revoked_ms = NULL, revoke_reason = NULL", ()))
    want = (
        f"device {proj.device}: revoked in the log at {_iso(revoked.at_ms)}, not revoked in "
        "the store"
    )
    report = verify_log(proj.db)
    assert not report.ok and report.differences == (want,)
    assert (
        report.first_problem == "1 row(s) of the tables that decide who may act differ from the log"
    )
    code, out, err = proj.verify()
    assert code == 1 and out.startswith("audit log verified: 5 entries")
    assert err.splitlines()[:2] == [
        "syncserver: the tables that decide who may act differ from the audit log (1 row(s)):",
        f"  {want}",
    ]
    code, out, err = proj.run()
    assert code == 1 and proj.served == []
    assert err.splitlines() == [
        "syncserver: refusing to start: the tables that decide who may act differ from the "
        f"audit log: {want}",
        HINT,
    ]


def test_a_token_role_raised_by_sql_is_named(proj: Proj) -> None:
    sql(proj.db, ("UPDATE admin_tokens SET role = 'admin' WHERE label = 'ops'", ()))
    report = verify_log(proj.db)
    assert report.differences == ("admin token 'ops': role admin in the store, auditor in the log",)
    code, _, err = proj.run()
    assert code == 1 and proj.served == [] and "role admin in the store" in err


def test_a_token_hash_replaced_by_sql_is_named(proj: Proj) -> None:
    # The operator swaps in the hash of a token they know: the row no longer matches the
    # entry that created it, and that entry's row is gone.
    mine = hashlib.sha256(b"ssa1_a token the operator chose").digest()
    sql(proj.db, ("UPDATE admin_tokens SET token_hash = ?", (mine,)))
    assert verify_log(proj.db).differences == (
        "admin token 'ops': in the store (role auditor), but no entry created it",
        "admin token 'ops': created in the log (entry 2), not in the store",
    )


def test_a_device_row_inserted_by_sql_is_named(proj: Proj) -> None:
    # A copy of the enrolled device under a new id, serial and key: no entry enrolled it,
    # and the certificate it carries is someone else's.
    intruder = uuid.uuid4()
    sql(
        proj.db,
        (
            "INSERT INTO devices (device_id, serial, label, public_key, certificate,"
            " not_before_ms, not_after_ms, enrolled_ms, enrolled_how)"
            " SELECT ?, 2, label, ?, certificate, not_before_ms, not_after_ms, enrolled_ms,"
            " 'file' FROM devices",
            (intruder.bytes, os.urandom(32)),
        ),
    )
    name = f"device {intruder}"
    assert verify_log(proj.db).differences == (
        f"{name}: its device id in the store differs from its certificate",
        f"{name}: its public key in the store differs from its certificate",
        f"{name}: its serial in the store differs from its certificate",
        f"{name}: in the store (serial 2), but no entry enrolled it",
    )
    code, _, err = proj.run()
    assert code == 1 and proj.served == [] and f"{name}: its device id" in err


def test_an_enrollment_token_made_unused_again_is_named(proj: Proj, tmp_path: Path) -> None:
    token = proj.ok("devices", "token", "--label", "kit 5").splitlines()[0]
    project = proj.open()
    try:
        from syncserver.access import devices

        devices.enroll(project, device_request(token=token)[1], how="token", now=_now())
    finally:
        project.close()
    (used,) = [e for e in show_entries(proj.db, kind="enroll") if e.actor == "enroll-token:kit 5"]
    sql(proj.db, ("UPDATE enroll_tokens SET used_ms = NULL, device_id = NULL", ()))
    assert verify_log(proj.db).differences == (
        f"enrollment token 'kit 5': used in the log at {_iso(used.at_ms)}, not used in the store",
    )


def test_a_certificate_changed_by_sql_is_named(proj: Proj) -> None:
    sql(proj.db, ("UPDATE devices SET not_after_ms = not_after_ms + 86400000", ()))
    after = verify_log(proj.db).differences
    assert len(after) == 2 and all(d.startswith(f"device {proj.device}: ") for d in after)
    assert after[0].endswith(": its not_after in the store differs from its certificate")
    assert " not_after " in after[1] and after[1].endswith(" in the log")
    conn = sqlite3.connect(proj.db)
    (cert,) = conn.execute("SELECT certificate FROM devices").fetchone()
    conn.close()
    sql(
        proj.db,
        ("UPDATE devices SET not_after_ms = not_after_ms - 86400000", ()),
        ("UPDATE devices SET certificate = ?", (cert[:-1] + bytes([cert[-1] ^ 1]),)),
    )
    assert verify_log(proj.db).differences == (
        f"device {proj.device}: its certificate does not verify with the log's key",
        f"device {proj.device}: its certificate in the store is not the one the log recorded "
        "(entry 3)",
    )


# -- rows added to the log itself after the last checkpoint ------------------------------


def forge(db: Path, entry: AuditEntry, mac: bytes | None = None) -> int:
    """Append ``entry`` by SQL with a leaf hash that fits: each row agrees with itself."""
    raw = encode_entry(entry)
    conn = sqlite3.connect(db)
    (n,) = conn.execute("SELECT MAX(idx) + 1 FROM audit").fetchone()
    with conn:
        conn.execute(
            "INSERT INTO audit (idx, entry, leaf_hash, mac) VALUES (?, ?, ?, ?)",
            (n, raw, hashlib.sha256(b"\x00" + raw).digest(), mac),
        )
    conn.close()
    return int(n)


@pytest.mark.parametrize("mac", [None, bytes(32)], ids=["no MAC", "a made-up MAC"])
def test_a_row_forged_after_the_last_checkpoint_stops_the_server(
    proj: Proj, mac: bytes | None
) -> None:
    # A device enrolled by hand, with an entry that says so: the tables agree with the
    # log, and no checkpoint covers the entry. Only the writer's MAC tells.
    proj.ok("devices", "revoke", str(proj.device), "--reason", "lost")  # a real tail: 4
    sql(proj.db, ("UPDATE devices SET revoked_ms = NULL, revoke_reason = NULL", ()))
    conn = sqlite3.connect(proj.db)
    (raw,) = conn.execute("SELECT entry FROM audit WHERE idx = 4").fetchone()
    conn.close()
    revoke = msgspec.msgpack.decode(raw)
    sql(proj.db, ("DELETE FROM audit WHERE idx = 4", ()))
    index = forge(proj.db, AuditEntry(kind="init", at_ms=revoke["at_ms"], actor="system"), mac)
    assert index == 4 and verify_log(proj.db).ok  # the auditor's view agrees with itself
    from syncserver.audit.log import AuditLogBroken, check_before_serving

    project = proj.open()
    try:
        with pytest.raises(AuditLogBroken) as e:
            check_before_serving(project)
    finally:
        project.close()
    what = "carries no MAC" if mac is None else "its MAC does not check"
    assert e.value.message == (
        "refusing to start: entry 4 of the audit log was not written by this server: it "
        f"comes after the last signed checkpoint (size 4) and {what} (added or changed in "
        "store.db by hand?)"
    )
    code, _, err = proj.run()
    assert code == 1 and proj.served == [] and "entry 4 of the audit log" in err


def test_an_entry_rewritten_with_its_row_after_the_checkpoint_stops_the_server(
    proj: Proj,
) -> None:
    proj.ok("tokens", "create", "--role", "auditor", "--label", "night")  # entry 4
    conn = sqlite3.connect(proj.db)
    (raw,) = conn.execute("SELECT entry FROM audit WHERE idx = 4").fetchone()
    conn.close()
    e = msgspec.msgpack.decode(raw)
    e["detail"]["role"] = "admin"
    raw = msgspec.msgpack.encode(e)
    sql(
        proj.db,
        (
            "UPDATE audit SET entry = ?, leaf_hash = ? WHERE idx = 4",
            (raw, hashlib.sha256(b"\x00" + raw).digest()),
        ),  # fmt: skip
        ("UPDATE admin_tokens SET role = 'admin' WHERE label = 'night'", ()),
    )
    assert verify_log(proj.db).ok  # nothing signed covers entry 4 (audit-log-v1.md §13.4)
    code, _, err = proj.run()
    assert code == 1 and proj.served == []
    assert "entry 4 of the audit log was not written by this server" in err
    assert "its MAC does not check" in err


def test_a_changed_chain_marker_stops_the_server(proj: Proj) -> None:
    from syncserver.audit.entries import MAC_FROM_KEY

    sql(proj.db, ("UPDATE meta SET value = ? WHERE key = ?", (bytes(40), MAC_FROM_KEY)))
    code, _, err = proj.run()
    assert code == 1 and proj.served == []
    assert (
        "record of where the audit log's MAC chain starts (meta audit_mac_from) was changed" in err
    )


def test_a_store_opened_without_the_key_cannot_append(proj: Proj) -> None:
    before = proj.db.read_bytes()
    store = SqliteStore(proj.db).open()
    try:
        with pytest.raises(StoreError) as e:
            store.write_sync(lambda c: append(c, AuditEntry(kind="init", at_ms=0, actor="system")))
    finally:
        store.close()
    assert e.value.message == (
        "this store was opened without the project key: it cannot write to the audit log"
    )
    assert [x.index for x in show_entries(proj.db, limit=0)] == [0, 1, 2, 3]
    assert len(before) > 0


# -- a log written before entries bound their rows (store schema 3) ----------------------


def test_a_log_from_before_schema_4_is_reported_as_not_bound(proj: Proj) -> None:
    """Strip the new fields from every entry, as sealsync 0.1 wrote them, and drop the
    MACs and checkpoints: rows are named as not bound (a note), the check passes, and
    the server starts with a warning about the entries it cannot check."""
    from syncserver.audit.entries import MAC_FROM_KEY, mac_from_marker, mac_key

    conn = sqlite3.connect(proj.db)
    rows = conn.execute("SELECT idx, entry FROM audit ORDER BY idx").fetchall()
    conn.close()
    old_fields = {"what", "token_hash", "not_before_ms", "not_after_ms", "certificate_sha256"}
    statements: list[tuple[str, tuple[object, ...]]] = [("DELETE FROM checkpoints", ())]
    for idx, raw in rows:
        e = msgspec.msgpack.decode(raw)
        e["actor"] = "admin"  # as sealsync 0.1 wrote it
        e["detail"] = {k: v for k, v in e["detail"].items() if k not in old_fields}
        if e["kind"] == "token" and "role" not in e["detail"]:
            e["subject"] = ""
        raw = msgspec.msgpack.encode(e)
        leaf = hashlib.sha256(b"\x00" + raw).digest()
        statements.append(
            (
                "UPDATE audit SET entry = ?, leaf_hash = ?, mac = NULL WHERE idx = ?",
                (raw, leaf, idx),
            )  # fmt: skip
        )
    project = proj.open()
    marker = mac_from_marker(mac_key(project.identity.store_key), len(rows))
    project.close()
    statements.append(("UPDATE meta SET value = ? WHERE key = ?", (marker, MAC_FROM_KEY)))
    sql(proj.db, *statements)

    report = verify_log(proj.db)
    assert report.ok and report.differences == ()
    assert report.unbound == (
        f"device {proj.device}: not bound: its enroll entry (3) was written before entries "
        "bound it (a store from before schema 4); its certificate is checked against its "
        "signature only",
        "enrollment token 'kit 3': not bound: its token entry (1) was written before entries "
        "bound it (a store from before schema 4)",
        "admin token 'ops': not bound: its token entry (2) was written before entries bound "
        "it (a store from before schema 4)",
    )
    code, out, _ = proj.verify()
    assert code == 0 and f"  note: {report.unbound[0]}" in out.splitlines()
    # un-revoking a device is still seen: the revocation time is in every revoke entry
    proj.ok("devices", "revoke", str(proj.device), "--reason", "lost")
    revoked_ms = show_entries_at(proj.db, 4)
    sql(proj.db, ("UPDATE devices SET revoked_ms = NULL", ()))
    assert verify_log(proj.db).differences == (
        f"device {proj.device}: revoked in the log at {_iso(revoked_ms)}, not revoked in the store",
    )
    sql(proj.db, ("UPDATE devices SET revoked_ms = ?", (revoked_ms,)))
    code, out, err = proj.run()
    assert code == 0 and len(proj.served) == 1
    assert err.startswith("warning: 4 audit entries after the last signed checkpoint were written")


def show_entries_at(db: Path, index: int) -> int:
    (e,) = [e for e in show_entries(db, limit=0) if e.index == index]
    return e.at_ms


# -- audit show, readable ----------------------------------------------------------------


def test_audit_show_is_readable_and_its_json_exact(proj: Proj) -> None:
    from syncserver.audit.entries import token_digest

    proj.ok("devices", "revoke", str(proj.device), "--reason", "lost at a checkpoint")
    entries = {e.index: e for e in show_entries(proj.db, limit=0)}
    code = main(["audit", "show", "--dir", str(proj.dir), "--limit", "0"])
    out = proj.capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 5
    conn = sqlite3.connect(proj.db)
    (stored_hash,) = conn.execute("SELECT token_hash FROM enroll_tokens").fetchone()
    (cert,) = conn.execute("SELECT certificate FROM devices").fetchone()
    conn.close()
    digest = token_digest(stored_hash)
    t = entries[1]
    assert out[1] == (
        f'      1  {_iso(t.at_ms)}  token         "kit 3"  by cli:amara  '
        f'what="enrollment token"  token_hash={digest[:12]}…  '
        f"expires_ms={_iso(int(t.detail['expires_ms']))}"
    )
    e = entries[3]
    assert out[3] == (
        f"      3  {_iso(e.at_ms)}  enroll        {proj.device}  by cli:amara  serial=1  "
        f"how=file  not_before_ms={_iso(int(e.detail['not_before_ms']))}  "
        f"not_after_ms={_iso(int(e.detail['not_after_ms']))}  "
        f"certificate_sha256={hashlib.sha256(cert).hexdigest()[:12]}…"
    )
    assert out[4].endswith(
        f'revoke        {proj.device}  by cli:amara  what=device  reason="lost at a checkpoint"'
    )
    main(["audit", "show", "--dir", str(proj.dir), "--kind", "token", "--json"])
    rows = [json.loads(line) for line in proj.capsys.readouterr().out.splitlines()]
    assert rows[0]["detail"] == {
        "what": "enrollment token",
        "token_hash": digest,
        "expires_ms": t.detail["expires_ms"],
    }
    assert rows[0]["actor"] == "cli:amara" and rows[0]["at_ms"] == t.at_ms


def test_audit_show_says_yes_and_no_and_quotes_what_could_blur_a_line(tmp_path: Path) -> None:
    from syncserver.audit.verify import ShownEntry
    from syncserver.cli._audit import _line

    e = ShownEntry(
        index=9,
        kind="export",
        at_ms=1_795_000_000_123,
        actor="token:night shift",
        subject="escapee-interview",
        detail={"sensitive": True, "all_versions": False, "rows": 3, "note": "a\nb=c"},
    )
    assert _line(e) == (
        "      9  2026-11-18T11:06:40.123Z  export        escapee-interview  "
        'by "token:night shift"  sensitive=yes  all_versions=no  rows=3  note="a\\nb=c"'
    )


# -- helpers -----------------------------------------------------------------------------


def _iso(ms: int) -> str:
    import datetime

    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def _now() -> Any:
    import datetime

    return datetime.datetime.now(datetime.UTC)


def test_a_schema_3_store_is_upgraded_and_its_unchecked_tail_reported(proj: Proj) -> None:
    """A store from before the MAC chain: migration 4, run when the project is opened
    with its key, records that the chain starts after the rows already there; those
    after the last checkpoint are reported, and everything appended since is checked."""
    from syncserver.audit.entries import MAC_FROM_KEY, mac_from_marker, mac_key

    proj.ok("devices", "token", "--label", "kit 5")  # entry 4, after the checkpoint
    sql(
        proj.db,
        ("DELETE FROM meta WHERE key = ?", (MAC_FROM_KEY,)),
        ("ALTER TABLE audit DROP COLUMN mac", ()),
        ("PRAGMA user_version = 3", ()),
    )
    project = proj.open()  # migrates
    try:
        marker = project.store.read_sync(
            lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (MAC_FROM_KEY,)).fetchone()
        )
        assert marker == (mac_from_marker(mac_key(project.identity.store_key), 5),)
    finally:
        project.close()
    code, out, err = proj.run()
    assert code == 0 and len(proj.served) == 1
    assert err.startswith("warning: 1 audit entries after the last signed checkpoint were")
    proj.ok("devices", "revoke", str(proj.device), "--reason", "lost")  # entry 5: chained
    sql(proj.db, ("UPDATE audit SET mac = NULL WHERE idx = 5", ()))
    code, _, err = proj.run()
    assert code == 1 and "entry 5 of the audit log was not written by this server" in err
