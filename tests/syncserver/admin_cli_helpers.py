"""A project driven through the admin CLI, for the CLI tests (imported as
``admin_cli_helpers``). Set-up goes through ``syncserver`` commands where one exists, so
that the tests depend on the command line, not on library signatures."""

from __future__ import annotations

import datetime
import hashlib
import io
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import make_record, seal_for
from support.project import init_by_cli, reopen
from support.uploader import device_id_of, device_request

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.wire import EnrollmentResponse
from syncserver.cli import main
from syncserver.ingest import ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "schemas" / "forms" / "escapee-interview.toml"
FORM = shipped_form("escapee-interview")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Admin:
    """A project created by ``syncserver init`` with a key file."""

    dir: Path
    key: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str, secret: bool = True) -> tuple[int, str, str]:
        """``syncserver ARGV --dir DIR [--key-file KEY]``: (exit code, stdout, stderr)."""
        more = ["--key-file", str(self.key)] if secret else []
        code = main([*argv, "--dir", str(self.dir), *more])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str, secret: bool = True) -> str:
        code, out, err = self.run(*argv, secret=secret)
        assert code == 0, err
        return out

    def open(self) -> Project:
        return reopen(self.dir, key_file=self.key)

    def enroll_file(self, label: str = "laptop-1") -> tuple[Ed25519PrivateKey, uuid.UUID]:
        """A device enrolled offline (`devices enroll-file`): its key and id."""
        dkey, req = device_request(label=label)
        req_file = self.dir.parent / f"request-{uuid.uuid4().hex}.json"
        resp_file = req_file.with_name(req_file.name.replace("request", "response"))
        req_file.write_bytes(msgspec.json.encode(req))
        self.ok("devices", "enroll-file", str(req_file), "-o", str(resp_file))
        resp = msgspec.json.decode(resp_file.read_bytes(), type=EnrollmentResponse)
        return dkey, device_id_of(resp)

    def seal(
        self, dkey: Ed25519PrivateKey, device: uuid.UUID, answers: dict[str, Any], seq: int = 1
    ) -> tuple[bytes, uuid.UUID]:
        """A bundle of one record with ``answers``, sealed by ``device`` for this project."""
        project = self.open()
        try:
            rec = make_record(FORM, answers)
            return seal_for(project, dkey, device, [rec], seq=seq), rec.record_id
        finally:
            project.close()

    def deliver(
        self,
        data: bytes,
        device: uuid.UUID,
        *,
        at: datetime.datetime | None = None,
        ingest: bool = True,
    ) -> uuid.UUID:
        """Receive ``data`` from ``device`` as the server does (persist; then ingest)."""
        at = at or now()
        bundle_id = read_header(io.BytesIO(data)).bundle_id
        project = self.open()
        try:
            area = UploadArea(project.config.root)
            area.append(bundle_id, 0, data, len(data))
            sha = hashlib.sha256(data).digest()
            persist_upload(project, area, bundle_id, device, len(data), sha, now=at)
            if ingest:
                ingest_bundle(project, area, Preparer.for_project(project), bundle_id, now=at)
        finally:
            project.close()
        return bundle_id


def valid_answers(seed: int = 1) -> dict[str, Any]:
    return synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})


def make_admin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Admin:
    """A new project, made by `syncserver init DIR --key-file KEY`."""
    key, d = tmp_path / "project.key", tmp_path / "proj"
    init_by_cli(d, key)
    capsys.readouterr()
    return Admin(d, key, capsys)
