"""Builders for the field kit's command-line tests (imported as ``kit_cli_helpers``).

A kit made as `collector init` makes one (cheap Argon2id), holding the shipped form as
``Kit.accept_forms`` stores it; a real server on 127.0.0.1 (port 0) served from a thread;
a kit enrolled with it offline; a port with nothing behind it. Everything is synthetic.
"""

from __future__ import annotations

import datetime
import random
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from support.project import new_project
from support.thread_server import ThreadServer
from support.uploader import enroll_file

from collector import keystore
from collector.kit import Kit
from collector.vault import Vault
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from syncserver.access import devices
from syncserver.project import Project

FORM = shipped_form("escapee-interview")
PASSPHRASE = "a synthetic passphrase for the kit cli tests"
FAST = keystore.KdfParams(memory_kib=1024, iterations=1, lanes=1)
PASS_ENV = "SEALSYNC_COLLECTOR_PASSPHRASE"
ACTOR = "cli:kit-tests"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def kit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a scripted `collector` run needs: the passphrase in the environment."""
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)
    monkeypatch.delenv("SEALSYNC_ENROLL_TOKEN", raising=False)


def new_kit(home: Path, *, clock_ns: Callable[[], int] | None = None) -> Kit:
    """A kit in ``home`` holding the shipped form (not enrolled)."""
    keystore.create(home, PASSPHRASE, kdf=FAST)
    kit = open_kit(home, clock_ns=clock_ns)
    kit.vault.put("form", f"{FORM.id}@{FORM.version}", msgspec.msgpack.encode(FORM))
    return kit


def open_kit(home: Path, *, clock_ns: Callable[[], int] | None = None) -> Kit:
    keys = keystore.unlock(home, PASSPHRASE)
    extra: dict[str, Any] = {} if clock_ns is None else {"clock_ns": clock_ns}
    return Kit(Vault(home, keys.data_key), keys.device_key, **extra)


def kit_objects(home: Path) -> dict[str, list[str]]:
    """What the kit holds, kind by kind (to check that a failed command wrote nothing)."""
    vault = open_kit(home).vault
    kinds = ("state", "form", "draft", "final", "attachment", "outbox", "outbox-meta", "receipt")
    return {kind: vault.list(kind) for kind in kinds}


def answered_draft(kit: Kit, seed: int) -> Any:
    """A draft with synthetic answers (saved)."""
    d = kit.new_draft(kit.form(FORM.id), "ko")
    d.answers = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
    kit.save_draft(d)
    return d


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, noted, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class ServedProject(ThreadServer):
    """A project with the shipped form (``support.project``), served over plain HTTP on
    127.0.0.1 (port 0), as `syncserver run` serves it by default, from a thread: the
    `collector` command runs its own event loop in the test's thread."""

    def __init__(self, root: Path) -> None:
        from syncserver.web import create_app

        self.project: Project = new_project(root, publish=True, actor=ACTOR)
        super().__init__(lambda: create_app(self.project))

    def __enter__(self) -> ServedProject:
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self.project.close()

    def token(self) -> str:
        return devices.create_token(self.project, "kit", now=now(), actor=ACTOR)


def enroll_kit_offline(kit: Kit, project: Project, url: str) -> uuid.UUID:
    """Enroll ``kit`` with ``project`` by request and response files, naming ``url``."""
    response = enroll_file(project, kit.enrollment_request("cli-lab"), actor=ACTOR)
    return kit.accept_enrollment(response, url)
