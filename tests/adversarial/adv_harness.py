"""A real sync server on 127.0.0.1 for adversarial tests and ``bench/fuzz.py``.

:class:`LiveServer` runs ``syncserver.web.create_app`` (the production app: the error
middleware, the ingest worker processes, the background matcher) in a thread with its
own event loop, on a random port of 127.0.0.1. Tests talk to it over real HTTP with a
small synchronous client (:class:`Uploader`), which hypothesis can drive example by
example. :func:`expected_delta` is the oracle for "no partial merge": what a bundle may
add to the store, computed independently of the server's ingest code (open it with the
project's key and device registry, then validate each record with the published form).
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import io
import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from support.thread_server import ThreadServer

from schemas.bundle import DeviceKey, open_bundle, read_header, seal_bundle
from schemas.errors import BundleInvalid
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import Validator
from schemas.survey.synth import SynthesisError, synthesize
from schemas.wire import EnrollmentRequest, Record, UploadCreate, sign_request, sign_request_headers
from syncserver.access import devices
from syncserver.audit.verify import verify_log
from syncserver.forms import publish_form
from syncserver.project import Project, init_project
from syncserver.project.config import Config, Limits, ServerSettings
from syncserver.project.keys import KdfParams, Secret

__all__ = ["FORM", "LiveServer", "Response", "Uploader", "expected_delta", "fresh_records"]

FORM = shipped_form("escapee-interview")
VALIDATOR = Validator(FORM)
FAST_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)  # tests only
SECRET = Secret(passphrase="synthetic adversarial passphrase")
T0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Uploader:
    """A device that signs its requests (docs/spec/api-v1.md §3), over one keep-alive
    connection; synchronous, so that hypothesis can drive it."""

    def __init__(self, port: int, device_id: uuid.UUID, key: Ed25519PrivateKey) -> None:
        self.port, self.device_id, self.key = port, device_id, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        h = sign_request_headers(self.key, self.device_id, method, path, body, int(time.time()))
        h.update(headers or {})
        return raw_request(self.conn, method, path, body, h)

    def upload(self, data: bytes, bundle_id: uuid.UUID) -> list[Response]:
        """Announce, send in two pieces, complete; stops at the first refusal."""
        create = msgspec.json.encode(
            UploadCreate(bundle_id=bundle_id, size=len(data), sha256=hashlib.sha256(data).digest())
        )
        out = [self.request("POST", "/v1/uploads", create)]
        if out[-1].status not in (200, 201):
            return out
        half = len(data) // 2
        for off, piece in ((0, data[:half]), (half, data[half:])):
            if piece:
                out.append(
                    self.request(
                        "PATCH", f"/v1/uploads/{bundle_id}", piece, {"Upload-Offset": str(off)}
                    )
                )
                if out[-1].status != 204:
                    return out
        out.append(self.request("POST", f"/v1/uploads/{bundle_id}/complete"))
        return out

    def close(self) -> None:
        self.conn.close()


def raw_request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> Response:
    for attempt in range(2):
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        except (ConnectionError, http.client.HTTPException):
            conn.close()  # the server closed a keep-alive connection: reconnect once
            if attempt:
                raise
    raise AssertionError("unreachable")


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
        self.project: Project = init_project(
            root, SECRET, kdf=FAST_KDF, config=config, actor="cli:tester"
        )
        publish_form(self.project, FORM, now=T0, actor="cli:tester")
        self.kit_id, self.kit_key = self._enroll("kit")
        self.courier_id, self.courier_key = self._enroll("courier")
        self._server = ThreadServer(self._app)

    def _enroll(self, label: str) -> tuple[uuid.UUID, Ed25519PrivateKey]:
        key = Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        req = sign_request(EnrollmentRequest(public_key=pub, label=label, token=""), key)
        resp = devices.enroll(
            self.project,
            req,
            how="file",
            now=datetime.datetime.now(datetime.UTC),
            actor="cli:tester",
        )
        return uuid.UUID(bytes=msgspec.msgpack.decode(resp.certificate.body)["device_id"]), key

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

    def uploader(self) -> Uploader:
        """The kit itself: a bundle is uploaded by the device that sealed it."""
        return Uploader(self.port, self.kit_id, self.kit_key)

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
        buf = io.BytesIO()
        seal_bundle(
            buf,
            records=records,
            device=DeviceKey(self.kit_id, self.kit_key),
            recipients=[self.project.identity.recipient_public],
            project_id=self.project.project_id,
            device_seq=seq,
        )
        return buf.getvalue()


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
