"""The field kit's operations, over the encrypted vault (issue #4; docs/spec/api-v1.md).

A :class:`Kit` is an unlocked home directory: the device key, the vault, and the state
kept in it (enrollment and pinned keys, forms, drafts, finalized responses, the outbox of
sealed bundles, receipts, the last checkpoint seen). Every object lives encrypted in the
vault; this module never writes a file itself.

Lifecycle of an interview: a draft is saved after every answer; a finalized response is
a :class:`~schemas.wire.Record`; sealing turns finalized responses into bundles the device
cannot read back and deletes the responses; syncing uploads each bundle, verifies the
signed receipt, its inclusion proof and the new checkpoint's consistency with the last one
seen, and only then deletes the bundle.

Crashes. Each step changes several vault objects, each atomically, in an order where a
crash between two of them (SIGKILL, power loss, a full disk) loses nothing: the later
object is the commit (the finalized response before the draft goes; the outbox entry,
naming the bundle's records and sequence number, before the chain moves on and the
responses go; the receipt before the bundle goes). Opening a kit, and every seal and
sync, finishes what was cut short, so every record is in exactly one place: a draft, a
finalized response, or one sealed bundle (tests/e2e/test_collector_crash.py).
"""

from __future__ import annotations

import base64
import datetime
import io
import pathlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas import certs
from schemas.bundle import Attachment, DeviceKey, RecipientPublicKey, SealedBundle, seal_bundle
from schemas.errors import CertificateInvalid, SchemaError, TlogError
from schemas.ids import new_id
from schemas.survey import Form
from schemas.text import shown, valid_label
from schemas.tlog import verify_checkpoint, verify_consistency
from schemas.wire import (
    EnrollmentRequest,
    EnrollmentResponse,
    ReceiptBody,
    Record,
    SignedFormSet,
    sign_request,
    verify_formset,
)

from . import _ids
from ._net import explain, server_error, server_url
from .errors import CollectorError, ObjectCorrupt
from .sync import Pins, Retry, ServerUnavailable, SyncClient, SyncError

__all__ = [
    "AttachmentRef",
    "Draft",
    "Kit",
    "KitError",
    "KitStatus",
    "OutboxEntry",
    "SyncReport",
    "VaultLike",
]


class VaultLike(Protocol):
    def put(self, kind: str, id: str, data: bytes) -> None: ...
    def get(self, kind: str, id: str) -> bytes: ...
    def delete(self, kind: str, id: str) -> object: ...
    def list(self, kind: str) -> list[str]: ...
    def put_stream(self, kind: str, id: str, chunks: Iterable[bytes]) -> None: ...
    def open_stream(self, kind: str, id: str) -> Iterator[bytes]: ...


class KitError(CollectorError):
    """A field-kit operation that cannot be done now; says what to do next."""


class _Enrollment(msgspec.Struct, frozen=True):
    server_url: str
    device_id: uuid.UUID
    response: EnrollmentResponse


class _Chain(msgspec.Struct):
    device_seq: int = 0
    prev_bundle_sha256: bytes = bytes(32)
    last_checkpoint: str = ""  # the newest checkpoint note a receipt proved consistent
    last_sync: datetime.datetime | None = None


class AttachmentRef(msgspec.Struct, frozen=True):
    name: str  # generated (audio-1.ogg): an original file name may name a person
    media_type: str
    size: int


class Draft(msgspec.Struct):
    """An interview in progress (saved, encrypted, after every answer)."""

    draft_id: str
    form_id: str
    form_version: int
    record_id: uuid.UUID
    lang: str
    answers: dict[str, Any]
    started_at: datetime.datetime
    stopped_early: bool = False
    attachments: list[AttachmentRef] = msgspec.field(default_factory=list)


class OutboxEntry(msgspec.Struct, frozen=True):
    """A sealed bundle waiting in the outbox (its bytes are the vault object ``slot``).

    ``device_seq`` and ``record_ids`` let a kit finish a seal that a crash cut short: the
    entry is written once the bundle is safely stored, and from then on the responses
    it names are sealed, whatever is still left of them on the device."""

    slot: str
    bundle_id: uuid.UUID
    sha256: bytes
    size: int
    device_seq: int = 0  # 0: written by a kit that did not record it
    record_ids: tuple[uuid.UUID, ...] = ()


class _Final(msgspec.Struct, frozen=True):
    """A finalized response waiting to be sealed, with its attachments' media types."""

    record: Record
    attachments: list[AttachmentRef] = msgspec.field(default_factory=list)


_MEDIA = {
    ".ogg": "audio/ogg", ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
    ".wav": "audio/wav", ".flac": "audio/flac", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".png": "image/png", ".heic": "image/heic", ".webp": "image/webp", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".pdf": "application/pdf",
}  # fmt: skip
_READ = 1024 * 1024


class _StreamFile(io.RawIOBase):
    """A read-only file over a vault stream (what the sealer reads attachments from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


@dataclass(frozen=True)
class KitStatus:
    enrolled: bool
    device_id: uuid.UUID | None
    forms: list[tuple[str, int]]
    drafts: int
    finalized: int
    sealed_not_uploaded: int
    receipted: int
    last_sync: datetime.datetime | None
    certificate_expires: datetime.datetime | None
    attention: list[str]
    project_fingerprint: str | None = None


@dataclass
class SyncReport:
    """What a sync did: ``uploaded`` (receipts verified, local copies deleted) and
    ``failed`` (kept on the device, with the reason for each). ``unavailable`` is set
    when the server could not be reached or kept failing: the sync stopped there, and
    every bundle not uploaded is in ``failed`` with that reason."""

    uploaded: list[uuid.UUID]
    failed: dict[uuid.UUID, str]
    unavailable: ServerUnavailable | None = None


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Kit:
    def __init__(
        self,
        vault: VaultLike,
        device_key: Ed25519PrivateKey,
        *,
        clock: Callable[[], datetime.datetime] = _utcnow,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """``clock`` dates drafts and records; ``clock_ns`` is the time in the kit's
        time-ordered ids (drafts, records, bundles). Tests pin them; production never."""
        self.vault = vault
        self.device_key = device_key
        self.clock = clock
        self.clock_ns = clock_ns
        try:
            self._finish_interrupted()
        except CollectorError:
            pass  # e.g. a full or read-only disk: seal and sync try again, and fail loudly

    # -- state -------------------------------------------------------------------------

    def _get(self, kind: str, id: str, typ: type[Any]) -> Any:
        return msgspec.msgpack.decode(self.vault.get(kind, id), type=typ)

    def _put(self, kind: str, id: str, obj: Any) -> None:
        self.vault.put(kind, id, msgspec.msgpack.encode(obj))

    def _chain(self) -> _Chain:
        return (
            self._get("state", "chain", _Chain) if "chain" in self.vault.list("state") else _Chain()
        )

    def enrollment(self) -> _Enrollment:
        if "enrollment" not in self.vault.list("state"):
            raise KitError(
                "this kit is not enrolled",
                hint="run `collector enroll URL` (it asks for the one-time token), or "
                "`collector enroll --file FILE`",
            )
        result: _Enrollment = self._get("state", "enrollment", _Enrollment)
        return result

    def pins(self) -> Pins:
        r = self.enrollment().response
        return Pins(signing_public=r.signing_public_key, log_origin=r.log_origin)

    # -- enrollment --------------------------------------------------------------------

    def enrollment_request(self, label: str, token: str = "") -> EnrollmentRequest:
        if not valid_label(label):
            raise KitError(
                f"{shown(label, 70)!r} cannot be a device label",
                hint="give --label 1 to 64 characters, with no control character and no space"
                " at either end: a name for this laptop, never a person's",
            )
        pub = self.device_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return sign_request(
            EnrollmentRequest(public_key=pub, label=label, token=token), self.device_key
        )

    def accept_enrollment(self, response: EnrollmentResponse, server_url: str) -> uuid.UUID:
        """Check the response names this device's key and is signed by the key it pins;
        store it. (The project key is taken on first use: compare its fingerprint, shown
        by `collector status`, with the one the administrator reads out.)"""
        try:
            cert = certs.verify(
                response.certificate,
                Ed25519PublicKey.from_public_bytes(response.signing_public_key),
                now=self.clock(),
                project_id=response.project_id,
            )
        except CertificateInvalid as e:
            raise KitError(f"the enrollment answer is not valid ({e.reason})") from None
        mine = self.device_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if cert.public_key != mine:
            raise KitError(
                "the enrollment answer is for another device",
                hint="use the response made from this kit's request file",
            )
        self._put("state", "enrollment", _Enrollment(server_url, cert.device_id, response))
        return cert.device_id

    async def enroll_online(
        self, session: aiohttp.ClientSession, url: str, token: str, label: str
    ) -> uuid.UUID:
        """Enroll with the server at ``url`` using a one-time ``token``. Every failure is
        a :class:`KitError` saying what happened and what to do; nothing is stored on
        the kit unless the server's answer is accepted."""
        url = server_url(url)
        req = self.enrollment_request(label, token)
        try:
            async with session.post(url + "/v1/enroll", data=msgspec.json.encode(req)) as r:
                status, raw = r.status, await r.read()
        except (TimeoutError, aiohttp.ClientError) as e:
            failure = explain(e, url)
            raise KitError(
                f"cannot enroll: {failure.message}",
                hint=f"{failure.hint} (nothing was changed on this kit)",
            ) from None
        if status != 201:
            said = server_error(raw)
            if said is not None:
                message, hint = f"enrollment refused: {said[0]}", said[1]
            else:
                message, hint = f"enrollment refused (HTTP {status})", None
                if status in (404, 405):
                    message = f"the server at {url} does not take enrollments (HTTP {status})"
                    hint = "check the URL: the sealsync server's, as its administrator gave it"
            raise KitError(message, hint=hint)
        try:
            response = msgspec.json.decode(raw, type=EnrollmentResponse)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise KitError(
                f"the server at {url} answered, but not as a sealsync server would",
                hint="check the URL with the administrator (nothing was changed on this kit)",
            ) from None
        return self.accept_enrollment(response, url)

    # -- forms -------------------------------------------------------------------------

    def accept_forms(self, signed: SignedFormSet) -> list[tuple[str, int]]:
        pub = Ed25519PublicKey.from_public_bytes(self.enrollment().response.signing_public_key)
        try:
            fs = verify_formset(signed, pub)
        except SchemaError:
            raise KitError("the form set is not signed by this project: nothing changed") from None
        got = []
        for doc in fs.forms:
            form = msgspec.msgpack.decode(doc.document, type=Form)
            self.vault.put("form", f"{form.id}@{form.version}", doc.document)
            got.append((form.id, form.version))
        return got

    async def fetch_forms(
        self, session: aiohttp.ClientSession, *, on_retry: Callable[[Retry], None] | None = None
    ) -> list[tuple[str, int]]:
        client = self._client(session, on_retry=on_retry)
        status, raw, _ = await client._call("GET", "/v1/forms")
        if status != 200:
            raise KitError(f"could not fetch forms (HTTP {status})")
        return self.accept_forms(msgspec.json.decode(raw, type=SignedFormSet))

    def forms(self) -> list[Form]:
        return [
            msgspec.msgpack.decode(self.vault.get("form", k), type=Form)
            for k in sorted(self.vault.list("form"))
        ]

    def form(self, form_id: str, version: int | None = None) -> Form:
        candidates = [
            f for f in self.forms() if f.id == form_id and (version is None or f.version == version)
        ]
        if not candidates:
            raise KitError(
                f"form '{form_id}' is not on this kit", hint="run `collector forms` when online"
            )
        return max(candidates, key=lambda f: f.version)

    # -- drafts and finalized responses ------------------------------------------------

    def new_draft(self, form: Form, lang: str) -> Draft:
        d = Draft(
            draft_id=new_id(clock=self.clock_ns).hex,
            form_id=form.id,
            form_version=form.version,
            record_id=new_id(clock=self.clock_ns),
            lang=lang,
            answers={},
            started_at=self.clock(),
        )
        self.save_draft(d)
        return d

    def save_draft(self, d: Draft) -> None:
        self._put("draft", d.draft_id, d)

    def drafts(self) -> list[Draft]:
        return [self._get("draft", i, Draft) for i in sorted(self.vault.list("draft"))]

    def draft(self, draft_id: str) -> Draft:
        """The draft whose id is or begins with ``draft_id`` (at least 8 characters, as
        :meth:`short_ids` shows it); :class:`~collector.errors.UnknownId` if none or
        several do (the message lists them)."""
        found = _ids.resolve(
            draft_id,
            self.vault.list("draft"),
            what="draft",
            listed_by="`collector drafts`",
            shown=self.short_ids(),
        )
        result: Draft = self._get("draft", found, Draft)
        return result

    def short_ids(self) -> dict[str, str]:
        """Each draft id and finalized record id mapped to the shortest prefix (at least
        8 characters) that names it alone among them: what to show a person, and what
        :meth:`draft` and :meth:`attach_to` take back."""
        return _ids.short_ids([*self.vault.list("draft"), *self.vault.list("final")])

    def bundle_ids(self) -> dict[uuid.UUID, str]:
        """Each bundle the kit holds (sealed, or receipted) mapped to its shortest unique
        prefix (at least 8 characters)."""
        held = [e.bundle_id for e in self.outbox()]
        held += [uuid.UUID(i) for i in self.vault.list("receipt")]
        shown = _ids.short_ids(str(b) for b in held)
        return {b: shown[str(b)] for b in held}

    def delete_draft(self, d: Draft) -> int:
        """Delete draft ``d`` and its attachments from the vault (each overwritten and
        removed); return how many attachments went. The draft goes last, so an
        interrupted delete leaves it listed (without attachments) to be deleted again;
        it never leaves a draft naming attachments that are gone. Attachments of a
        record that was already finalized or sealed are not the draft's: they stay."""
        sealed = {str(r) for e in self.outbox() for r in e.record_ids}
        rid = str(d.record_id)
        gone = 0
        if rid not in sealed and rid not in self.vault.list("final"):
            if d.attachments:
                d.attachments = []
                self.save_draft(d)
            for key in self.vault.list("attachment"):
                if key.startswith(rid + "/"):
                    gone += bool(self.vault.delete("attachment", key))
        self.vault.delete("draft", d.draft_id)
        return gone

    def _store_attachment(
        self, record_id: uuid.UUID, taken: list[AttachmentRef], path: str, media_type: str | None
    ) -> AttachmentRef:
        """Stream a recording, photo or scan into the vault: encrypted on arrival, never
        whole in memory, stored under a generated name (an original file name may name a
        person)."""
        src = pathlib.Path(path)
        suffix = src.suffix.lower()
        media = media_type or _MEDIA.get(suffix)
        if media is None:
            raise KitError(
                f"cannot tell what kind of file {suffix or 'this'} is",
                hint="give --type, e.g. audio/ogg, image/jpeg, application/pdf",
            )
        top = media.split("/")[0]
        kind = top if top in ("audio", "image") else "document"
        n = 1 + sum(1 for a in taken if a.name.startswith(kind + "-"))
        name = f"{kind}-{n}{suffix if suffix in _MEDIA else ''}"
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            with src.open("rb") as f:
                while block := f.read(_READ):
                    size += len(block)
                    yield block

        try:
            self.vault.put_stream("attachment", f"{record_id}/{name}", chunks())
        except OSError as e:
            raise KitError(f"cannot read the file to attach ({e.strerror})") from None
        return AttachmentRef(name=name, media_type=media, size=size)

    def attach(self, d: Draft, path: str, *, media_type: str | None = None) -> AttachmentRef:
        """Attach a file to draft ``d`` (saved at once)."""
        ref = self._store_attachment(d.record_id, d.attachments, path, media_type)
        d.attachments.append(ref)
        self.save_draft(d)
        return ref

    def attach_to(self, ident: str, path: str, *, media_type: str | None = None) -> AttachmentRef:
        """Attach a file to a draft (by draft id prefix) or to a finalized, not yet sealed
        interview (by record id prefix)."""
        drafts = self.vault.list("draft")
        found = _ids.resolve(
            ident,
            [*drafts, *self.vault.list("final")],
            what="draft or finalized interview",
            listed_by="`collector drafts`",
        )
        if found in drafts:
            return self.attach(self._get("draft", found, Draft), path, media_type=media_type)
        f: _Final = self._get("final", found, _Final)
        ref = self._store_attachment(f.record.record_id, f.attachments, path, media_type)
        refs = [*f.attachments, ref]
        rec = msgspec.structs.replace(f.record, attachments=tuple(a.name for a in refs))
        self._put("final", found, _Final(rec, refs))
        return ref

    def finalize(self, d: Draft) -> Record:
        """Turn a draft into a finalized record (the caller has validated it)."""
        now = self.clock().replace(microsecond=0)
        rec = Record(
            record_id=d.record_id,
            version=1,
            form_id=d.form_id,
            form_version=d.form_version,
            created_at=d.started_at.replace(microsecond=0),
            modified_at=now,
            lang=d.lang,
            answers=d.answers,
            attachments=tuple(a.name for a in d.attachments),
            stopped_early=d.stopped_early,
        )
        self._put("final", str(rec.record_id), _Final(rec, list(d.attachments)))
        self.vault.delete("draft", d.draft_id)
        return rec

    # -- seal --------------------------------------------------------------------------

    def _opener(self, key: str) -> Callable[[], BinaryIO]:
        def open_() -> BinaryIO:
            return io.BufferedReader(_StreamFile(self.vault.open_stream("attachment", key)))

        return open_

    def outbox(self) -> list[OutboxEntry]:
        """The sealed bundles waiting to be uploaded, in the order they were sealed."""
        entries = [self._get("outbox-meta", k, OutboxEntry) for k in self.vault.list("outbox-meta")]
        return sorted(entries, key=lambda e: (e.device_seq, e.slot))

    def finalized(self) -> list[uuid.UUID]:
        """The record ids of finalized interviews waiting to be sealed."""
        return [uuid.UUID(k) for k in self.vault.list("final")]

    def finalized_records(self) -> list[Record]:
        """The finalized interviews waiting to be sealed, oldest first."""
        records = [self._get("final", k, _Final).record for k in self.vault.list("final")]
        return sorted(records, key=lambda r: (r.modified_at, str(r.record_id)))

    def _finish_interrupted(self, *, chain: bool = False) -> None:
        """Finish what a crash (a kill, a power cut, a full disk) cut short, so that every
        record is in exactly one place: a draft, a finalized response, or one bundle.

        * A response named by an outbox entry is sealed: what is left of it (the
          finalized response, its attachments) is destroyed, as the seal would have.
        * A draft whose record was finalized or sealed is a leftover of `finalize`.
        * A bundle with a stored receipt was delivered: its bytes and entry go.
        * ``chain``: the chain state catches up with the newest bundle sealed, so that no
          sequence number is used twice (only under `seal` and `sync`: it is a
          read-modify-write of the chain, which another kit process may also be doing).

        Each step is idempotent, and none removes anything not already sealed, finalized
        or receipted, so it is safe while another process uses the same kit.
        """
        entries = self.outbox()
        sealed = {rid for e in entries for rid in e.record_ids}
        if chain and entries:
            top = max(entries, key=lambda e: e.device_seq)
            state = self._chain()
            if top.device_seq > state.device_seq:
                state.device_seq, state.prev_bundle_sha256 = top.device_seq, top.sha256
                self._put("state", "chain", state)
        finals = set(self.vault.list("final"))
        for rid in sorted(str(r) for r in sealed if str(r) in finals):
            try:
                attachments = self._get("final", rid, _Final).attachments
            except ObjectCorrupt:
                attachments = []  # sealed all the same: the damaged copy goes too
            for a in attachments:
                self.vault.delete("attachment", f"{rid}/{a.name}")
            self.vault.delete("final", rid)
        receipts = set(self.vault.list("receipt"))
        for e in entries:
            if str(e.bundle_id) in receipts:
                self.vault.delete("outbox", e.slot)
                self.vault.delete("outbox-meta", e.slot)
        done = finals | {str(r) for r in sealed}
        for draft_id in self.vault.list("draft"):
            try:
                d: Draft = self._get("draft", draft_id, Draft)
            except ObjectCorrupt:
                continue  # not a leftover we can recognise; `collector drafts` shows it
            if str(d.record_id) in done:
                self.vault.delete("draft", draft_id)  # its attachments are the final's

    def _batches(self, finals: list[str], max_records: int, max_bytes: int) -> list[list[str]]:
        """Group finalized responses into bundles of at most ``max_records`` records and
        about ``max_bytes`` (records plus attachments); one response alone may exceed it."""
        batches: list[list[str]] = []
        cur: list[str] = []
        size = 0
        for x in finals:
            raw = self.vault.get("final", x)
            f = msgspec.msgpack.decode(raw, type=_Final)
            n = len(raw) + sum(a.size for a in f.attachments)
            if cur and (len(cur) >= max_records or size + n > max_bytes):
                batches.append(cur)
                cur, size = [], 0
            cur.append(x)
            size += n
        if cur:
            batches.append(cur)
        return batches

    def seal(self, *, max_records: int = 50, max_bytes: int = 64 * 1024 * 1024) -> list[uuid.UUID]:
        """Seal finalized responses into bundles; destroy the responses. Bundles are
        streamed into the vault, so attachments of any size stay out of memory."""
        enr = self.enrollment()
        self._finish_interrupted(chain=True)
        known = set(self.vault.list("outbox-meta"))
        for orphan in set(self.vault.list("outbox")) - known:
            self.vault.delete("outbox", orphan)  # a seal cut off before its entry was saved
        finals = sorted(self.vault.list("final"))
        sealed: list[uuid.UUID] = []
        chain = self._chain()
        for ids in self._batches(finals, max_records, max_bytes):
            batch = [self._get("final", x, _Final) for x in ids]
            attachments = [
                Attachment(
                    record_id=f.record.record_id,
                    name=a.name,
                    media_type=a.media_type,
                    open=self._opener(f"{f.record.record_id}/{a.name}"),
                )
                for f in batch
                for a in f.attachments
            ]
            slot = new_id(clock=self.clock_ns).hex
            seq, prev = chain.device_seq + 1, chain.prev_bundle_sha256

            def write(
                dst: BinaryIO,
                batch: list[_Final] = batch,
                atts: list[Attachment] = attachments,
                seq: int = seq,
                prev: bytes = prev,
            ) -> SealedBundle:
                return seal_bundle(
                    dst,
                    records=[f.record for f in batch],
                    attachments=atts,
                    device=DeviceKey(enr.device_id, self.device_key),
                    recipients=[RecipientPublicKey(enr.response.recipient_public_key)],
                    project_id=enr.response.project_id,
                    device_seq=seq,
                    prev_bundle_sha256=prev,
                    clock=self.clock_ns,
                )

            result = self._seal_into_vault(slot, write)
            # Bundle, then its outbox entry (the commit: from here on these responses are
            # sealed), then the chain, then delete the plaintext. A crash in between
            # leaves the entry, and _finish_interrupted completes the chain and the
            # deletions: no response is lost, none is sealed into a second bundle, and
            # no sequence number is used twice.
            entry = OutboxEntry(
                slot,
                result.bundle_id,
                result.sha256,
                result.size,
                device_seq=seq,
                record_ids=tuple(f.record.record_id for f in batch),
            )
            self._put("outbox-meta", slot, entry)
            chain.device_seq = seq
            chain.prev_bundle_sha256 = result.sha256
            self._put("state", "chain", chain)
            for f in batch:
                for a in f.attachments:
                    self.vault.delete("attachment", f"{f.record.record_id}/{a.name}")
                self.vault.delete("final", str(f.record.record_id))
            sealed.append(result.bundle_id)
        return sealed

    def _seal_into_vault(
        self, slot: str, write: Callable[[BinaryIO], SealedBundle]
    ) -> SealedBundle:
        """Run the sealer in a thread, piping what it writes into the vault through a
        bounded queue: memory is a few chunks, whatever the bundle's size."""
        q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        out: dict[str, Any] = {}

        class _Pipe(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: Any) -> int:
                q.put(bytes(b))
                return len(b)

        def produce() -> None:
            try:
                out["result"] = write(_Pipe())  # type: ignore[arg-type]
            except BaseException as e:  # handed to the caller below
                out["error"] = e
            finally:
                q.put(None)

        def chunks() -> Iterator[bytes]:
            while (c := q.get()) is not None:
                yield c

        t = threading.Thread(target=produce, name="seal", daemon=True)
        t.start()
        try:
            self.vault.put_stream("outbox", slot, chunks())
        finally:
            while t.is_alive():  # let the sealer finish if the vault stopped reading
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            t.join()
        if "error" in out:
            self.vault.delete("outbox", slot)
            raise out["error"]
        result: SealedBundle = out["result"]
        return result

    # -- sync --------------------------------------------------------------------------

    def _client(
        self, session: aiohttp.ClientSession, *, on_retry: Callable[[Retry], None] | None = None
    ) -> SyncClient:
        enr = self.enrollment()
        if not enr.server_url:
            raise KitError(
                "this kit was enrolled offline without the server's URL",
                hint="run `collector enroll --file RESPONSE --url URL` again with the URL "
                "the administrator gives",
            )
        return SyncClient(
            session,
            enr.server_url,
            enr.device_id,
            self.device_key,
            self.pins(),
            on_retry=on_retry,
        )

    async def sync(
        self,
        session: aiohttp.ClientSession,
        *,
        progress: Callable[[uuid.UUID, int, int], None] | None = None,
        dry_run: bool = False,
        bytes_progress: Callable[[int, int], None] | None = None,
        on_retry: Callable[[Retry], None] | None = None,
    ) -> SyncReport:
        """Upload every bundle in the outbox; delete each only after its receipt, inclusion
        proof and checkpoint consistency verify. A bundle that fails stays. If the server
        cannot be reached (or keeps failing), the sync stops there: the bundles not yet
        uploaded stay, each in ``failed`` with that reason, and ``unavailable`` says why.
        ``on_retry`` hears of every retry as it starts."""
        client = self._client(session, on_retry=on_retry)
        report = SyncReport(uploaded=[], failed={})
        if not dry_run:
            self._finish_interrupted(chain=True)
        entries = self.outbox()
        for n, entry in enumerate(entries, start=1):
            if progress:
                progress(entry.bundle_id, n, len(entries))
            if dry_run:
                continue

            def from_offset(offset: int, slot: str = entry.slot) -> Iterator[bytes]:
                skip = offset
                for chunk in self.vault.open_stream("outbox", slot):
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    yield chunk[skip:]
                    skip = 0

            try:
                body = await client.upload_stream(
                    entry.bundle_id, entry.size, entry.sha256, from_offset, bytes_progress
                )
                await self._check_consistency(client, body)
            except ServerUnavailable as e:
                report.unavailable = e
                for rest in entries[n - 1 :]:
                    report.failed[rest.bundle_id] = e.message
                break
            except (SyncError, KitError) as e:
                report.failed[entry.bundle_id] = e.message  # the hint is the caller's
                continue
            except SchemaError as e:
                report.failed[entry.bundle_id] = str(e)
                continue
            self.vault.put("receipt", str(entry.bundle_id), msgspec.msgpack.encode(body))
            self.vault.delete("outbox", entry.slot)
            self.vault.delete("outbox-meta", entry.slot)
            report.uploaded.append(entry.bundle_id)
        if report.unavailable is None:  # "last sync" is the last time the server was there
            chain = self._chain()
            chain.last_sync = self.clock()
            self._put("state", "chain", chain)
        return report

    async def _check_consistency(self, client: SyncClient, body: ReceiptBody) -> None:
        """The receipt's checkpoint and the newest one this kit saw before must be two
        views of one append-only log: a consistency proof between them must verify (equal
        sizes with different roots is a fork). The newer of the two is kept."""
        pins = self.pins()
        vkey = pins.verifier_key()
        new = verify_checkpoint(body.checkpoint, vkey, origin=pins.log_origin)
        chain = self._chain()
        if chain.last_checkpoint:
            old = verify_checkpoint(chain.last_checkpoint, vkey, origin=pins.log_origin)
            small, big = (old, new) if old.size <= new.size else (new, old)
            if (small.size, small.root_hash) != (big.size, big.root_hash):
                proof: list[bytes] = []
                if small.size != big.size:
                    status, raw, _ = await client._call(
                        "GET", f"/v1/log/consistency?from={small.size}&to={big.size}"
                    )
                    if status != 200:
                        raise KitError(f"could not get a consistency proof (HTTP {status})")
                    proof = [base64.b64decode(p) for p in msgspec.json.decode(raw)["proof"]]
                try:
                    verify_consistency(small.size, big.size, proof, small.root_hash, big.root_hash)
                except TlogError:
                    raise KitError(
                        "THE SERVER'S LOG IS NOT CONSISTENT WITH WHAT THIS KIT SAW BEFORE: "
                        "the bundle is kept; report this to your data manager"
                    ) from None
            if new.size <= old.size:
                return
        chain.last_checkpoint = body.checkpoint
        self._put("state", "chain", chain)

    # -- status ------------------------------------------------------------------------

    def status(self) -> KitStatus:
        enrolled = "enrollment" in self.vault.list("state")
        device_id, expires, attention, fp = None, None, [], None
        if enrolled:
            enr = self.enrollment()
            device_id = enr.device_id
            fp = certs.fingerprint(enr.response.signing_public_key)
            cert = msgspec.msgpack.decode(
                enr.response.certificate.body, type=certs.DeviceCertificate
            )
            expires = cert.not_after
            if expires - self.clock() < datetime.timedelta(days=30):
                attention.append(f"the device certificate expires on {expires:%Y-%m-%d}")
        else:
            attention.append("not enrolled: run `collector enroll`")
        outbox = len(self.vault.list("outbox-meta"))
        if outbox:
            attention.append(f"{outbox} sealed bundle(s) wait for `collector sync`")
        finals = len(self.vault.list("final"))
        if finals:
            attention.append(f"{finals} finalized interview(s) wait for `collector seal`")
        return KitStatus(
            enrolled=enrolled,
            device_id=device_id,
            forms=[(f.id, f.version) for f in self.forms()],
            drafts=len(self.vault.list("draft")),
            finalized=finals,
            sealed_not_uploaded=outbox,
            receipted=len(self.vault.list("receipt")),
            last_sync=self._chain().last_sync,
            certificate_expires=expires,
            attention=attention,
            project_fingerprint=fp,
        )
