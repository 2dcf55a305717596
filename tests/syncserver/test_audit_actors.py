"""Every audit entry names who acted (issue 11): a device, the server itself, an admin
token's label, the person who ran a command, or the enrollment token a device used;
never a hard-coded "admin" (audit-log-v1.md §14.1)."""

from __future__ import annotations

import ast
import getpass
import hashlib
import io
import os
import re
from pathlib import Path

import msgspec
import pytest
from respondent_helpers import Env, interview
from support.bundles import make_record, seal_for
from support.project import NOW, init_by_cli, reopen
from support.server import serve
from support.uploader import device_id_of, device_request, enroll_offline

import syncserver
from schemas import forms as shipped_forms
from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.wire import EnrollmentResponse
from syncserver.access import devices
from syncserver.audit.entries import decode_entry
from syncserver.cli import main
from syncserver.ingest import ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project
from syncserver.respondents import list_candidates

FORM = shipped_form("escapee-interview")
FORM_FILE = Path(shipped_forms.__file__).parent / "escapee-interview.toml"


def entries(project: Project) -> list[tuple[str, str, str]]:
    rows = project.store.read_sync(
        lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
    )
    return [(e.kind, e.actor, e.subject) for e in (decode_entry(r[0]) for r in rows)]


def test_the_cli_names_the_login_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncserver.cli import cli_actor

    monkeypatch.setattr(getpass, "getuser", lambda: "amara")
    assert cli_actor() == "cli:amara"

    def unknown() -> str:
        raise OSError("no user name")

    monkeypatch.setattr(getpass, "getuser", unknown)
    assert cli_actor() == f"cli:uid{os.getuid()}"
    monkeypatch.setattr(getpass, "getuser", lambda: "evil\nby token:ops")
    assert cli_actor() == f"cli:uid{os.getuid()}"  # never a forged or broken actor


@pytest.mark.asyncio
async def test_every_kind_of_entry_names_who_acted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "amara")
    key, d = tmp_path / "project.key", tmp_path / "proj"

    def cli(*argv: str) -> str:
        assert main([*argv, "--dir", str(d), "--key-file", str(key)]) == 0, capsys.readouterr()
        return capsys.readouterr().out

    init_by_cli(d, key)
    capsys.readouterr()
    enroll_token = cli("devices", "token", "--label", "kit 3").strip().splitlines()[0]
    admin_token = cli("tokens", "create", "--role", "admin", "--label", "ops").strip()
    cli("tokens", "create", "--role", "auditor", "--label", "temp")
    cli("forms", "publish", str(FORM_FILE))
    project = reopen(d, key_file=key)
    try:
        # online enrollment: the token's label acted; offline: whoever ran the command
        dev_key, req = device_request(label="kit-3", token=enroll_token)
        resp = devices.enroll(project, req, how="token", now=NOW)
        dev = device_id_of(resp)
        _, offline = device_request(label="kit-4")
        req_file, resp_file = tmp_path / "request.json", tmp_path / "response.json"
        req_file.write_bytes(msgspec.json.encode(offline))
        cli("devices", "enroll-file", str(req_file), "-o", str(resp_file))
        other = msgspec.json.decode(resp_file.read_bytes(), type=EnrollmentResponse)
        other_dev = device_id_of(other)

        # a device uploads; the server accepts, supersedes, finds a conflict, quarantines,
        # files respondents and queues or links them
        env = Env(project, UploadArea(project.config.root), Preparer.for_project(project),
                  dev_key, dev)  # fmt: skip
        old = interview("독고세린", province="kaesong", born=1961, left=2003, seed=1)
        new = interview("독고하늘", province="kaesong", born=1961, left=2003, seed=2)
        same = interview("독고하늘", province="kaesong", born=1961, left=2003, seed=3)
        env.ingest([old])
        env.ingest([new])
        env.ingest([same])
        v2a = make_record(FORM, {**old.answers, "departure_year": 2004},
                          record_id=old.record_id, version=2)  # fmt: skip
        v2b = make_record(FORM, {**old.answers, "departure_year": 2005},
                          record_id=old.record_id, version=2)  # fmt: skip
        env.ingest([v2a])
        env.ingest([v2b])
        unknown_form = msgspec.structs.replace(make_record(FORM, {}), form_version=99)
        env.ingest([unknown_form])
        (item,) = list_candidates(project)
        (conflict,) = cli("conflicts", "list").split("\n", 1)[1].split()[1:2]
        (quarantined,) = [
            line.split()[0] for line in cli("quarantine", "list").splitlines() if "99" in line
        ]

        # a person decides, and reads what only the key can open
        cli("respondents", "distinct", "--item", str(item.id))
        cli("respondents", "link", str(item.a), str(item.b))
        cli("respondents", "unlink", str(item.b))
        cli("conflicts", "resolve", str(old.record_id), "--keep", conflict)
        cli("records", "review", str(old.record_id), "--state", "has_issues")
        cli("records", "show", str(old.record_id), "--include-sensitive")
        cli("quarantine", "release", quarantined)
        cli("export", "--form", FORM.id, "--out", str(tmp_path / "export"))

        # an admin token acts through the API
        async with serve(project) as srv:
            s = srv.session
            auth = {"Authorization": f"Bearer {admin_token}"}
            path = f"{srv.base}/v1/admin/records/{old.record_id}"
            r = await s.post(path + "/review", data=b'{"state": "approved"}', headers=auth)
            assert r.status == 200
            r = await s.get(path + "?sensitive=1", headers=auth)
            assert r.status == 200

        cli("devices", "revoke", str(other_dev), "--reason", "lost at a checkpoint")
        cli("tokens", "revoke", "temp")

        log = entries(project)
    finally:
        project.close()

    by_kind: dict[str, set[str]] = {}
    for kind, actor, _ in log:
        by_kind.setdefault(kind, set()).add(actor)
    assert by_kind == {
        "init": {"cli:amara"},
        "token": {"cli:amara"},  # both kinds of token
        "form_publish": {"cli:amara"},
        "enroll": {"enroll-token:kit 3", "cli:amara"},
        "upload": {f"device:{dev}"},
        "accept": {"system"},
        "supersede": {"system"},
        "conflict": {"system"},
        "quarantine": {"system"},
        "candidate": {"system"},
        "link": {"system", "cli:amara"},  # matched automatically, and by a person
        "review": {"cli:amara", "token:ops"},  # distinct, resolve, review state; the API
        "unlink": {"cli:amara"},
        "key_use": {"cli:amara", "token:ops"},
        "release": {"cli:amara"},
        "export": {"cli:amara"},
        "revoke": {"cli:amara"},  # a device and an admin token
    }
    assert ("enroll", "enroll-token:kit 3", str(dev)) in log
    assert ("enroll", "cli:amara", str(other_dev)) in log
    assert ("revoke", "cli:amara", str(other_dev)) in log
    assert ("revoke", "cli:amara", "temp") in log
    assert [a for k, a, s in log if k == "link" and s == str(item.a)] == ["cli:amara"]


def test_an_upload_names_its_device_and_quarantine_the_server(project: Project) -> None:
    key, dev = enroll_offline(project, now=NOW)
    data = seal_for(project, key, dev, [make_record(FORM, {})])  # no form published
    bid = read_header(io.BytesIO(data)).bundle_id
    area = UploadArea(project.config.root)
    area.append(bid, 0, data, len(data))
    sha = hashlib.sha256(data).digest()
    persist_upload(project, area, bid, dev, len(data), sha, now=NOW)
    ingest_bundle(project, area, Preparer.for_project(project), bid, now=NOW)
    log = entries(project)
    assert ("upload", f"device:{dev}", str(bid)) in log
    assert {a for k, a, _ in log if k == "quarantine"} == {"system"}


def test_no_hard_coded_admin_actor_is_left() -> None:
    """No `actor="admin"` and no `actor: str = "admin"` anywhere in the server; a
    function that writes an entry takes its actor without a default (a forgotten actor
    is a type error)."""
    root = Path(syncserver.__file__).parent
    literal = re.compile(r"""actor\s*(?::\s*str\s*)?=\s*['"]admin['"]""")
    found = [
        f"{p.relative_to(root)}:{n}"
        for p in sorted(root.rglob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line) or re.search(r"""['"]admin['"] if how""", line)
    ]
    assert found == []
    defaults = []
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            pos = args.posonlyargs + args.args
            with_default = pos[len(pos) - len(args.defaults) :]
            kw = [a for a, dflt in zip(args.kwonlyargs, args.kw_defaults, strict=True) if dflt]
            if any(a.arg == "actor" for a in [*with_default, *kw]):
                defaults.append(f"{p.relative_to(root)}:{node.name}")
    # devices.enroll/enroll_tx take actor=None for how="token" only: their overloads make
    # it required for how="file" (the token's label acts otherwise).
    assert defaults == ["access/devices.py:enroll_tx", "access/devices.py:enroll"]
