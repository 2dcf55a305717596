"""Admin commands that only read ask for no secret; enrollment token labels are shown."""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import pytest
from admin_cli_helpers import SHIPPED, Admin, make_admin, now, valid_answers
from support.uploader import device_id_of, device_request

from syncserver.access import devices
from syncserver.cli import _access as cli
from syncserver.cli import main
from syncserver.records.review import list_quarantine


@pytest.fixture
def admin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Admin:
    return make_admin(tmp_path, capsys)


def enroll_online(admin: Admin, label: str, device_label: str) -> str:
    """Make token ``label`` and enroll a device with it, as `collector enroll` would."""
    token = admin.ok("devices", "token", "--label", label).strip()
    project = admin.open()
    try:
        _, req = device_request(label=device_label, token=token)
        resp = devices.enroll(project, req, how="token", now=now())
    finally:
        project.close()
    return str(device_id_of(resp))


def test_commands_that_only_read_ask_for_no_secret(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file("laptop-1")
    good, record_id = admin.seal(dkey, dev, valid_answers(), seq=1)
    admin.deliver(good, dev)
    bad, _ = admin.seal(dkey, dev, {"consent": "not-a-choice"}, seq=2)
    admin.deliver(bad, dev)
    project = admin.open()
    try:
        [item] = [q.id for q in list_quarantine(project)]
    finally:
        project.close()

    # No secret anywhere: no terminal, no environment, not even the identity file.
    monkeypatch.delenv("SEALSYNC_PASSPHRASE", raising=False)
    devnull = open(os.devnull)
    monkeypatch.setattr("sys.stdin", devnull)
    sealed = admin.dir / "identity.sealed"
    sealed.rename(admin.dir / "elsewhere")
    store = admin.dir / "store.db"
    before = store.read_bytes()
    try:
        reads = {
            ("forms", "list"): "escapee-interview",
            ("devices", "list"): "laptop-1",
            ("devices", "tokens"): "no enrollment tokens made",
            ("tokens", "list"): "no admin tokens",
            ("quarantine", "list"): "record does not satisfy its form",
            ("quarantine", "show", str(item)): "hint: the record, as the device sealed it",
            ("conflicts", "list"): "no conflicts",
            ("records", "show", str(record_id)): "form escapee-interview v1",
            ("records", "show", str(record_id), "--answers"): "consent = 'yes'",
        }
        for argv, expected in reads.items():
            code, out, err = admin.run(*argv, secret=False)
            assert (code, err) == (0, ""), argv
            assert expected in out, (argv, out)
        # what decrypts or writes still needs the secret
        argv = ("records", "show", str(record_id), "--include-sensitive")
        code, _, err = admin.run(*argv, secret=False)
        assert code == 1 and "syncserver: no passphrase given" in err
        assert store.read_bytes() == before  # nothing written
        code, _, err = admin.run("devices", "token", "--label", "x", secret=False)
        assert (code, err) == (
            1,
            "syncserver: no passphrase given\nhint: use --passphrase-file, --key-file or"
            " SEALSYNC_PASSPHRASE when not at a terminal\n",
        )
    finally:
        (admin.dir / "elsewhere").rename(sealed)
        devnull.close()


def test_a_read_only_command_on_no_project_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices", "list", "--dir", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err == (
        f"syncserver: no project in {tmp_path / 'none'}\n"
        "hint: create one with `syncserver init DIR`\n"
    )


def test_enrollment_token_labels_are_kept_and_shown(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "no enrollment tokens made; make one with `syncserver devices token" in admin.ok(
        "devices", "tokens", secret=False
    )
    _, by_file = admin.enroll_file("laptop-file")
    device = enroll_online(admin, "kit 3", "laptop-a")
    admin.ok("devices", "token", "--label", "kit 4")
    listing = admin.ok("devices", "tokens", secret=False).splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d"
    assert len(listing) == 2
    assert re.fullmatch(
        rf"kit 3 {{19}} made {stamp}  used {stamp} by device {device} \(serial 2\)", listing[0]
    ), listing[0]
    assert re.fullmatch(rf"kit 4 {{19}} made {stamp}  unused, valid to {stamp}", listing[1])
    # two days on, the unused token has expired (tokens live 24 hours)
    later = now() + datetime.timedelta(days=2)
    monkeypatch.setattr(cli, "now", lambda: later)
    listing = admin.ok("devices", "tokens", secret=False).splitlines()
    assert re.fullmatch(rf"kit 4 {{19}} made {stamp}  expired unused {stamp}", listing[1])
    assert " used " in listing[0]

    devices_list = admin.ok("devices", "list", secret=False).splitlines()
    [a] = [line for line in devices_list if device in line]
    [f] = [line for line in devices_list if str(by_file) in line]
    assert "laptop-a" in a and "token 'kit 3'" in a
    assert "laptop-file" in f and "  file   " in f and "token" not in f
