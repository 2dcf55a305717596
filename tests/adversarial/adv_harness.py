"""A real sync server on 127.0.0.1 for adversarial tests and ``bench/fuzz.py``.

:class:`LiveServer` runs ``syncserver.web.create_app`` (the production app: the error
middleware, the ingest worker processes, the background matcher) in a thread with its
own event loop (``support.thread_server``), on port 0 of 127.0.0.1, for a project made
by ``support.project``. Tests talk to it over real HTTP with the suite's blocking device
client (``support.uploader.SyncDeviceClient``), which hypothesis can drive example by
example. :func:`expected_delta` is the oracle for "no partial merge": what a bundle may
add to the store, computed independently of the server's ingest code (open it with the
project's key and device registry, then validate each record with the published form).
"""

from __future__ import annotations

import datetime
import io
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from support.bundles import seal_for
from support.project import new_project
from support.thread_server import ThreadServer
from support.uploader import SyncDeviceClient, enroll_offline

from schemas.bundle import open_bundle, read_header
from schemas.errors import BundleInvalid
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import Validator
from schemas.survey.synth import SynthesisError, synthesize
from schemas.wire import Record
from syncserver.audit.verify import verify_log
from syncserver.project import Project
from syncserver.project.config import Config, Limits, ServerSettings

__all__ = ["FORM", "LiveServer", "expected_delta", "fresh_records", "header_id", "live_server"]

FORM = shipped_form("escapee-interview")
VALIDATOR = Validator(FORM)
T0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


class LiveServer:
    """A project with the shipped form published and two enrolled devices, ``kit``
    (which seals and uploads its own bundles) and ``courier`` (another device, whose
    uploads of the kit's bundles must be refused), served on 127.0.0.1 from a thread."""

    def __init__(self, root: Path, *, ingest_processes: int = 1) -> None:
        config = Config(
            server=ServerSettings(ingest_processes=ingest_processes),
            limits=Limits(requests_per_minute=1_000_000, max_bundle_bytes=4 * 1024 * 1024),
        )
        self.root = root
        self.project: Project = new_project(root, config=config, publish=True, published_at=T0)
        self.kit_key, self.kit_id = enroll_offline(self.project, label="kit")
        self.courier_key, self.courier_id = enroll_offline(self.project, label="courier")
        self._server = ThreadServer(self._app)

    def _app(self) -> Any:
        from syncserver.web import create_app

        return create_app(self.project)

    @property
    def port(self) -> int:
        return self._server.port

    def __enter__(self) -> LiveServer:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._server.__exit__(*exc)
        finally:
            self.project.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uploader(self) -> SyncDeviceClient:
        """The kit itself: a bundle is uploaded by the device that sealed it."""
        return SyncDeviceClient(self.base, self.kit_id, self.kit_key)

    def count(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.project.store.read_sync(lambda c: c.execute(sql, args).fetchall())

    def record_keys(self) -> set[tuple[bytes, int, bytes]]:
        return {
            (bytes(r), v, bytes(s))
            for r, v, s in self.count("SELECT record_id, version, sha256 FROM records")
        }

    def device_key(self, device_id: uuid.UUID) -> Ed25519PublicKey | None:
        device = self.project.store.read_sync(lambda tx: tx.devices.get(device_id))
        return None if device is None else Ed25519PublicKey.from_public_bytes(device.public_key)

    def audit_ok(self) -> None:
        report = verify_log(self.project.config.sqlite_path)
        assert report.ok, report.first_problem

    def seal(self, records: list[Record], seq: int = 1) -> bytes:
        return seal_for(self.project, self.kit_key, self.kit_id, records, seq=seq)


def fresh_records(rng: random.Random, n: int = 2, *, broken: bool = False) -> list[Record]:
    """``n`` synthetic records of the shipped form with fresh ids; with ``broken`` the
    last one breaks the form (an unknown question), so the bundle is partly invalid."""
    out = []
    for i in range(n):
        for _ in range(20):  # the synthesizer gives up on a few seeds: draw again
            try:
                answers = synthesize(FORM, rng, fixed={"consent": "yes"})
                break
            except SynthesisError:
                continue
        if broken and i == n - 1:
            answers["no_such_question"] = 1
        out.append(
            Record(
                record_id=new_id(rng=rng.randbytes),
                version=1,
                form_id=FORM.id,
                form_version=FORM.version,
                created_at=T0,
                modified_at=T0,
                lang="ko",
                answers=answers,
            )
        )
    return out


def expected_delta(
    server: LiveServer,
    data: bytes,
    uploaded_as: uuid.UUID,
    before: set[tuple[bytes, int, bytes]],
    uploader: uuid.UUID,
) -> tuple[int, bool]:
    """(records the server may add for ``data``, whether it opens at all).

    The records a bundle adds are exactly its valid, not-yet-stored ones when it opens
    for this project, sealed by the device that uploaded it (``uploader``), and was uploaded
    under its own id, else none. This oracle uses only the opener and the validator, not
    the server's ingest code.
    """
    try:
        opened = open_bundle(
            io.BytesIO(data),
            recipient=server.project.identity.recipient,
            device_keys=lambda d: server.device_key(d) if d == uploader else None,
            project_id=server.project.project_id,
        )
    except BundleInvalid:
        return 0, False
    if opened.bundle_id != uploaded_as:
        return 0, True
    entries = {(e.record_id, e.version): e.sha256 for e in opened.manifest.records}
    n, seen = 0, set(before)
    for rec in opened.records:
        if (rec.form_id, rec.form_version) != (FORM.id, FORM.version):
            continue
        if VALIDATOR.validate(rec.answers, stopped_early=rec.stopped_early):
            continue
        key = (rec.record_id.bytes, rec.version, entries[(rec.record_id, rec.version)])
        if key not in seen:
            n += 1
            seen.add(key)
    return n, True


def header_id(data: bytes) -> uuid.UUID | None:
    try:
        return read_header(io.BytesIO(data)).bundle_id
    except BundleInvalid:
        return None


@contextmanager
def live_server(root: Path, **kw: Any) -> Iterator[LiveServer]:
    with LiveServer(root, **kw) as srv:
        yield srv
