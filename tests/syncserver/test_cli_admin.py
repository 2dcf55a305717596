"""`syncserver init` and `syncserver devices …`, in-process, with a key file (fast)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import msgspec
import pytest
from support.project import init_by_cli
from support.uploader import device_request, enroll_offline

from schemas.wire import EnrollmentResponse
from syncserver.cli import main


@pytest.fixture
def proj(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    key, d = tmp_path / "project.key", tmp_path / "proj"
    init_by_cli(d, key)
    out = capsys.readouterr().out
    assert "created in" in out and "key fingerprint" in out
    return d, key


def run(proj: tuple[Path, Path], *argv: str) -> int:
    d, key = proj
    return main([*argv, "--dir", str(d), "--key-file", str(key)])


def test_init_twice_is_refused(proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    d, key = proj
    assert main(["init", str(d), "--key-file", str(key)]) == 1
    err = capsys.readouterr().err
    assert "already holds a project" in err and "hint:" in err


def test_token_enroll_file_list_revoke(
    proj: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "devices", "token", "--label", "kit 3") == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("sst1_") and "not stored" in err

    _, req = device_request(label="laptop-9")
    req_file = tmp_path / "request.json"
    req_file.write_bytes(msgspec.json.encode(req))
    resp_file = tmp_path / "response.json"
    assert run(proj, "devices", "enroll-file", str(req_file), "-o", str(resp_file)) == 0
    resp = msgspec.json.decode(resp_file.read_bytes(), type=EnrollmentResponse)
    capsys.readouterr()

    assert run(proj, "devices", "list") == 0
    listing = capsys.readouterr().out
    assert "laptop-9" in listing and "file" in listing
    device_id = listing.split()[1]
    uuid.UUID(device_id)
    assert resp.certificate.body  # the file carries the certificate back

    assert run(proj, "devices", "revoke", device_id, "--reason", "lost") == 0
    assert run(proj, "devices", "list") == 0
    assert "revoked" in capsys.readouterr().out


def test_bad_request_file_and_bad_ids(
    proj: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert run(proj, "devices", "enroll-file", str(bad), "-o", str(tmp_path / "o")) == 1
    assert "not an enrollment request" in capsys.readouterr().err
    assert run(proj, "devices", "revoke", "not-a-uuid", "--reason", "x") == 1
    assert "not a device id" in capsys.readouterr().err
    assert run(proj, "devices", "revoke", str(uuid.uuid4()), "--reason", "x") == 1
    assert "no device" in capsys.readouterr().err


def test_wrong_key_file(
    proj: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d, _ = proj
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    # `devices list` only reads and asks for no secret; `devices token` writes and needs it
    argv = ["devices", "token", "--label", "x", "--dir", str(d), "--key-file", str(other)]
    assert main(argv) == 1
    assert "rejected" in capsys.readouterr().err


def test_no_passphrase_without_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEALSYNC_PASSPHRASE", raising=False)
    with open(os.devnull) as devnull:
        monkeypatch.setattr("sys.stdin", devnull)
        assert main(["init", str(tmp_path / "p")]) == 1
    assert "no passphrase given" in capsys.readouterr().err


def test_passphrase_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pf = tmp_path / "pass"
    pf.write_text("a synthetic passphrase\n")
    # Argon2id at its production cost (~0.4 s): once here, to prove the default path.
    assert main(["init", str(tmp_path / "p"), "--passphrase-file", str(pf)]) == 0
    assert (
        main(["devices", "list", "--dir", str(tmp_path / "p"), "--passphrase-file", str(pf)]) == 0
    )
    assert "no devices enrolled" in capsys.readouterr().out


def test_quarantine_release_records_review_through_the_cli(
    proj: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib
    import io
    import random

    from support.bundles import make_record, seal_for
    from support.project import NOW, reopen

    from schemas.bundle import read_header
    from schemas.forms import shipped_form
    from schemas.survey.synth import synthesize
    from syncserver.ingest import ingest_bundle, persist_upload
    from syncserver.ingest._prepare import Preparer
    from syncserver.ingest.uploads import UploadArea

    d, key = proj
    form = shipped_form("escapee-interview")
    project = reopen(d, key_file=key)
    try:
        dkey, dev = enroll_offline(project, now=NOW)
        rec = make_record(form, synthesize(form, random.Random(5), fixed={"consent": "yes"}))
        data = seal_for(project, dkey, dev, [rec])
        bid = read_header(io.BytesIO(data)).bundle_id
        area = UploadArea(project.config.root)
        area.append(bid, 0, data, len(data))
        persist_upload(project, area, bid, dev, len(data), hashlib.sha256(data).digest(), now=NOW)
        ingest_bundle(project, area, Preparer.for_project(project), bid, now=NOW)
    finally:
        project.close()
    capsys.readouterr()
    assert run(proj, "quarantine", "list") == 0
    out = capsys.readouterr().out
    assert "form 'escapee-interview' v1 is not published" in out
    item = out.split()[0]
    assert run(proj, "quarantine", "show", item) == 0
    assert "quarantine release" in capsys.readouterr().out
    shipped = Path(__file__).resolve().parents[2] / "schemas" / "forms" / "escapee-interview.toml"
    assert run(proj, "forms", "publish", str(shipped)) == 0
    assert run(proj, "forms", "publish", str(shipped)) == 0
    assert "already published (no change)" in capsys.readouterr().out
    assert run(proj, "quarantine", "release", item) == 0
    assert "1 accepted, 0 back in quarantine" in capsys.readouterr().out
    assert run(proj, "quarantine", "list") == 0
    assert "quarantine is empty" in capsys.readouterr().out
    assert run(proj, "records", "review", str(rec.record_id), "--state", "approved") == 0
    assert run(proj, "records", "show", str(rec.record_id)) == 0
    assert "review=approved" in capsys.readouterr().out
    assert run(proj, "conflicts", "list") == 0
    assert "no conflicts" in capsys.readouterr().out
