"""The field kit end to end, through its command line, against `syncserver run` on
127.0.0.1: init, enroll online and offline, interview (from an answers file), seal,
sync, receipt verified, local copy deleted, record on the server. After every step the
kit's directory is searched byte by byte for a distinctive answer: never found."""

from __future__ import annotations

import datetime
import json
import random
import signal
import sys
import uuid
from pathlib import Path

import msgspec
import pytest
from support.project import new_project, reopen
from support.syncserver_run import start_syncserver
from support.uploader import enroll_file

from collector import keystore
from collector.cli import main as collector
from collector.vault import Vault
from schemas import certs
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.wire import EnrollmentRequest
from syncserver.access import devices
from syncserver.audit.entries import decode_entry
from syncserver.cli import main as server_cli

FORM = shipped_form("escapee-interview")
MARK = "합성표식이름"  # a distinctive synthetic answer, searched for on disk


def never_on_disk(home: Path) -> None:
    needles = [MARK.encode("utf-8"), MARK.encode("utf-16-le")]
    for p in home.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert not any(n in data for n in needles), p.name


@pytest.mark.slow
def test_collector_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "server.key"
    new_project(tmp_path / "srv", key_file=key, publish=True).close()
    argv = [sys.executable, "-m", "syncserver.cli", "run", "--dir", str(tmp_path / "srv")]
    server, _, url = start_syncserver([*argv, "--key-file", str(key)], tmp_path / "server.log")
    monkeypatch.setenv("SEALSYNC_COLLECTOR_PASSPHRASE", "a synthetic kit passphrase")
    monkeypatch.setenv("SEALSYNC_INSECURE_FAST_KDF", "1")
    try:

        def run(home: Path, *args: str) -> str:
            code = collector(["--home", str(home), *args])
            out = capsys.readouterr()
            assert code == 0, out.err
            never_on_disk(home)
            return out.out

        def answers_file(seed: int) -> Path:
            a = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
            a["respondent_name"] = MARK
            p = tmp_path / f"answers-{seed}.json"
            p.write_text(json.dumps(a, ensure_ascii=False), encoding="utf-8")
            return p

        # Kit A: online enrollment with a one-time token
        home_a = tmp_path / "kit-a"
        run(home_a, "init")
        p = reopen(tmp_path / "srv", key_file=key)
        token = devices.create_token(
            p, "kit a", now=datetime.datetime.now(datetime.UTC), actor="cli:tester"
        )
        p.close()
        token_file = tmp_path / "token.txt"  # never on the command line
        token_file.write_text(token + "\n", encoding="utf-8")
        out = run(home_a, "enroll", url, "--token-file", str(token_file), "--label", "laptop-a")
        token_file.unlink()
        assert "enrolled as device" in out and "escapee-interview v1" in out
        src = answers_file(1)
        run(home_a, "interview", "escapee-interview", "--answers", str(src))
        src.unlink()  # the paper copy's transcription is gone; only the kit holds it now
        assert "finalized          1" in run(home_a, "status")
        # a recording, whose content holds the mark too, attached to the interview
        recording = tmp_path / "recording.ogg"
        recording.write_bytes(MARK.encode() * 50_000)  # ~900 KB
        vault = Vault(home_a, keystore.unlock(home_a, "a synthetic kit passphrase").data_key)
        [record_id] = vault.list("final")
        out = run(home_a, "attach", record_id[:8], str(recording), "--shred-original")
        assert "attached as audio-1.ogg" in out and not recording.exists()
        run(home_a, "seal")
        assert "sealed, not sent   1" in run(home_a, "status")
        out = run(home_a, "sync")
        assert "1 uploaded; receipts verified; local copies deleted" in out
        assert "bundle 1/1" in out and "KiB" in out  # the progress bar counts bytes
        st = run(home_a, "status")
        assert "sealed, not sent   0" in st and "receipted          1" in st
        p = reopen(tmp_path / "srv", key_file=key)
        expected = certs.fingerprint(p.identity.signing_public_bytes())
        p.close()
        assert f"project key        {expected}" in st  # what the administrator reads out

        # Kit B: offline enrollment by request and response files
        home_b = tmp_path / "kit-b"
        run(home_b, "init")
        req = tmp_path / "request.json"
        run(home_b, "enroll", "--request", str(req), "--label", "laptop-b")
        p = reopen(tmp_path / "srv", key_file=key)
        response = enroll_file(p, msgspec.json.decode(req.read_bytes(), type=EnrollmentRequest))
        p.close()
        resp = tmp_path / "response.json"
        resp.write_bytes(msgspec.json.encode(response))
        assert "enrolled as device" in run(home_b, "enroll", "--file", str(resp), "--url", url)
        run(home_b, "forms")
        src = answers_file(2)
        run(home_b, "interview", "escapee-interview", "--answers", str(src))
        src.unlink()
        run(home_b, "seal")
        assert "1 uploaded" in run(home_b, "sync")

        # bad input: every problem at once, exit 1, nothing saved
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"consent": "yes", "birth_year": "x", "nope": 1}))
        assert (
            collector(
                ["--home", str(home_b), "interview", "escapee-interview", "--answers", str(bad)]
            )
            == 1
        )
        err = capsys.readouterr().err
        assert "$.birth_year" in err and "$.nope" in err and "hint:" in err
        assert "finalized          0" in run(home_b, "status")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    # Neither the name nor the recording is anywhere on the server's disk in clear text:
    # the recording stays inside its sealed bundle until an administrator takes it out.
    never_on_disk(tmp_path / "srv")
    p = reopen(tmp_path / "srv", key_file=key)
    try:
        n = p.store.read_sync(
            lambda c: c.execute("SELECT COUNT(*) FROM records WHERE status = 'current'").fetchone()
        )
        assert n == (2,)
        [(rid,)] = p.store.read_sync(
            lambda c: c.execute("SELECT record_id FROM records WHERE device_id = ("
                                " SELECT device_id FROM devices WHERE label = 'laptop-a')"
                                ).fetchall()
        )  # fmt: skip
    finally:
        p.close()
    capsys.readouterr()
    got = tmp_path / "recording-out.ogg"
    argv = ["--dir", str(tmp_path / "srv"), "--key-file", str(key), "--out", str(got)]
    assert server_cli(["attachments", "get", str(uuid.UUID(bytes=rid)), "audio-1.ogg", *argv]) == 0
    assert got.read_bytes() == MARK.encode() * 50_000 and got.stat().st_mode & 0o077 == 0
    assert "recorded in the audit log" in capsys.readouterr().out
    assert server_cli(["attachments", "get", str(uuid.UUID(bytes=rid)), "audio-1.ogg", *argv]) == 1
    assert "exists" in capsys.readouterr().err  # never overwrites
    other = ["--dir", str(tmp_path / "srv"), "--key-file", str(key), "--out", str(got) + "2"]
    assert server_cli(["attachments", "get", str(uuid.UUID(bytes=rid)), "nope.ogg", *other]) == 1
    assert "no attachment of that name" in capsys.readouterr().err
    assert server_cli(["attachments", "get", str(uuid.uuid4()), "audio-1.ogg", *other]) == 1
    assert "no record" in capsys.readouterr().err
    assert not (tmp_path / "recording-out.ogg2").exists()
    p = reopen(tmp_path / "srv", key_file=key)
    try:
        entries = p.store.read_sync(lambda c: c.execute("SELECT entry FROM audit").fetchall())
        uses = [e for e in map(decode_entry, (r[0] for r in entries)) if e.kind == "key_use"]
        assert [e.subject for e in uses] == [str(uuid.UUID(bytes=rid))]  # one extraction
    finally:
        p.close()
