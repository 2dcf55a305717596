"""The tables that decide who may act, recomputed from the audit log: the auditor's side
(docs/spec/audit-log-v1.md §14.2).

``devices`` (key, certificate, serial, validity, revocation), ``enroll_tokens`` and
``admin_tokens`` (role, label, revocation) are each recomputable from the ``token``,
``enroll`` and ``revoke`` entries. :class:`AccessLog` takes the entries of one pass of
:func:`syncserver.audit.verify.verify_log` in index order; :meth:`AccessLog.compare`
then reads the three tables (from the store's read-only
:class:`~syncserver.store.logsource.LogSource`) and names every row that differs: a row
no entry made, an
entry whose row is gone, a column that differs, a certificate that does not verify with
the log's key or does not match its row.

Like the rest of the verifier it shares no code with the writer: the token digest and
the certificate checks are written here from the spec (``schemas.certs`` is the shared
contract for the certificate's bytes). Entries written before the log bound these rows
(a store from before schema 4) lack the fields; their rows are reported as not bound,
not as differences.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.certs import CERT_LABEL, DeviceCertificate

from ..store.logsource import Kept, LogSource

__all__ = ["ACCESS_KINDS", "AccessLog", "AccessReport"]

#: The kinds of entry that change the tables that decide who may act.
ACCESS_KINDS = frozenset({"token", "enroll", "revoke"})

#: The label of a token digest in an entry (§14.2): SHA-256(label ‖ stored hash), hex.
TOKEN_LABEL = b"sealsync/v1 audit token\x00"
_OLD = "written before entries bound it (a store from before schema 4)"

_cert_decoder = msgspec.msgpack.Decoder(DeviceCertificate)
_cert_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")


def token_digest(stored_hash: bytes) -> str:
    return hashlib.sha256(TOKEN_LABEL + stored_hash).hexdigest()


def when(ms: object) -> str:
    """Unix milliseconds as ISO-8601 UTC (milliseconds shown only when not zero)."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return repr(ms)
    try:
        t = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def quoted(label: object) -> str:
    """A label as a person reads it: in single quotes, or JSON-escaped when it holds
    anything unprintable."""
    text = label if isinstance(label, str) else repr(label)
    if text.isprintable() and "'" not in text:
        return f"'{text}'"
    return json.dumps(text)


def _id(raw: object) -> str:
    return str(uuid.UUID(bytes=raw)) if isinstance(raw, bytes) and len(raw) == 16 else repr(raw)


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


@dataclass
class _Device:
    index: int
    bound: bool
    serial: int | None
    how: str | None
    enrolled_ms: int
    not_before_ms: int | None = None
    not_after_ms: int | None = None
    certificate_sha256: str | None = None
    revoked_ms: int | None = None
    revoke_reason: str | None = None


@dataclass
class _EnrollToken:
    index: int
    label: str
    created_ms: int
    expires_ms: int | None
    used_ms: int | None = None
    device: str | None = None


@dataclass
class _AdminToken:
    index: int
    label: str
    role: str | None
    created_ms: int
    revoked_ms: int | None = None


@dataclass(frozen=True)
class AccessReport:
    """``differences``: one sentence per row that differs from the log (a failure);
    ``unbound``: one per row whose entry was written before the log bound it (a note)."""

    differences: tuple[str, ...] = ()
    unbound: tuple[str, ...] = ()


@dataclass
class AccessLog:
    """What the ``token``, ``enroll`` and ``revoke`` entries say the tables hold."""

    devices: dict[str, _Device] = field(default_factory=dict)
    enroll_tokens: dict[str, _EnrollToken] = field(default_factory=dict)
    admin_tokens: dict[str, _AdminToken] = field(default_factory=dict)
    # (created, expiry) and (label, created) of tokens from before entries bound them,
    # looked up with the values a row holds (as stored, unchecked)
    old_enroll_tokens: dict[tuple[object, object], int] = field(default_factory=dict)
    old_admin_tokens: dict[tuple[object, object], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def see(
        self, index: int, kind: str, at_ms: int, subject: str, detail: dict[str, str | int | bool]
    ) -> None:
        """Take in entry ``index`` (only the kinds that change the tables matter)."""
        if kind == "token":
            self._token(index, at_ms, subject, detail)
        elif kind == "enroll":
            self._enroll(index, at_ms, subject, detail)
        elif kind == "revoke":
            self._revoke(index, at_ms, subject, detail)

    def _token(
        self, index: int, at_ms: int, subject: str, detail: dict[str, str | int | bool]
    ) -> None:
        what, digest = detail.get("what"), _str(detail.get("token_hash"))
        if what == "admin token" and digest is not None:
            self.admin_tokens[digest] = _AdminToken(index, subject, _str(detail.get("role")), at_ms)
        elif what == "enrollment token" and digest is not None:
            self.enroll_tokens[digest] = _EnrollToken(
                index, subject, at_ms, _int(detail.get("expires_ms"))
            )
        elif "role" in detail:  # an admin token, before entries bound it
            self.old_admin_tokens[(subject, at_ms)] = index
        else:  # an enrollment token, before entries bound it
            self.old_enroll_tokens[(at_ms, _int(detail.get("expires_ms")))] = index

    def _enroll(
        self, index: int, at_ms: int, subject: str, detail: dict[str, str | int | bool]
    ) -> None:
        cert = _str(detail.get("certificate_sha256"))
        if subject in self.devices:
            self.problems.append(
                f"device {subject}: enrolled twice in the log (entries "
                f"{self.devices[subject].index} and {index})"
            )
        self.devices[subject] = _Device(
            index=index,
            bound=cert is not None,
            serial=_int(detail.get("serial")),
            how=_str(detail.get("how")),
            enrolled_ms=at_ms,
            not_before_ms=_int(detail.get("not_before_ms")),
            not_after_ms=_int(detail.get("not_after_ms")),
            certificate_sha256=cert,
        )
        digest = _str(detail.get("token_hash"))
        if digest is None:
            return
        token = self.enroll_tokens.get(digest)
        if token is None:
            self.problems.append(
                f"device {subject}: enrolled in the log (entry {index}) with an enrollment "
                "token no entry created"
            )
        else:
            token.used_ms, token.device = at_ms, subject

    def _revoke(
        self, index: int, at_ms: int, subject: str, detail: dict[str, str | int | bool]
    ) -> None:
        if detail.get("what") == "admin token":
            digest = _str(detail.get("token_hash"))
            token = None if digest is None else self.admin_tokens.get(digest)
            if token is not None:
                token.revoked_ms = at_ms
            elif digest is not None:
                self.problems.append(
                    f"admin token {quoted(subject)}: revoked in the log (entry {index}), "
                    "but no entry created it"
                )
            return
        device = self.devices.get(subject)
        if device is None:
            self.problems.append(
                f"device {subject}: revoked in the log (entry {index}), but no entry enrolled it"
            )
            return
        device.revoked_ms, device.revoke_reason = at_ms, _str(detail.get("reason"))

    # -- the comparison -----------------------------------------------------------------

    def compare(
        self, source: LogSource, signing_public: bytes | None, *, batch: int
    ) -> AccessReport:
        """Read the three tables (in the source's snapshot, ``batch`` rows at a time) and
        compare them with the log. ``signing_public`` is the log's key, which also signs
        certificates."""
        out = _Out(list(self.problems))
        pid = source.names().project_id
        project_id = _id(pid) if pid is not None else None
        if source.keeps(Kept.DEVICES):
            self._devices(source, batch, out, signing_public, project_id)
        if source.keeps(Kept.ENROLL_TOKENS):
            self._enroll_tokens(source, batch, out)
        if source.keeps(Kept.ADMIN_TOKENS):
            self._admin_tokens(source, batch, out)
        return AccessReport(tuple(out.differences), tuple(out.unbound))

    def _devices(
        self,
        source: LogSource,
        batch: int,
        out: _Out,
        signing_public: bytes | None,
        project_id: str | None,
    ) -> None:
        logged = dict(self.devices)
        for row in source.devices(batch=batch):
            did = _id(row.device_id)
            name = f"device {did}"
            _certificate(out, name, row.certificate, signing_public, project_id, row.device_id,
                         row.serial, row.label, row.public_key, row.not_before_ms,
                         row.not_after_ms)  # fmt: skip
            d = logged.pop(did, None)
            if d is None:
                out.differ(f"{name}: in the store (serial {row.serial}), but no entry enrolled it")
                continue
            if not d.bound:
                out.unbound.append(
                    f"{name}: not bound: its enroll entry ({d.index}) was {_OLD}; its "
                    "certificate is checked against its signature only"
                )
            out.column(name, "serial", row.serial, d.serial, str)
            out.column(name, "enrolled", row.enrolled_ms, d.enrolled_ms, when)
            out.column(name, "enrolled by", row.enrolled_how, d.how, str)
            if d.bound:
                out.column(name, "not_before", row.not_before_ms, d.not_before_ms, when)
                out.column(name, "not_after", row.not_after_ms, d.not_after_ms, when)
                cert = row.certificate
                digest = hashlib.sha256(cert).hexdigest() if isinstance(cert, bytes) else None
                if digest != d.certificate_sha256:
                    out.differ(f"{name}: its certificate in the store is not the one the log "
                               f"recorded (entry {d.index})")  # fmt: skip
            revoked = row.revoked_ms
            out.revocation(name, revoked, d.revoked_ms)
            if (
                revoked is not None
                and d.revoked_ms is not None
                and row.revoke_reason != d.revoke_reason
            ):
                out.differ(f"{name}: the reason for its revocation differs from the log")
        for did, d in logged.items():
            out.differ(f"device {did}: enrolled in the log (entry {d.index}), not in the store")

    def _enroll_tokens(self, source: LogSource, batch: int, out: _Out) -> None:
        logged = dict(self.enroll_tokens)
        for row in source.enroll_tokens(batch=batch):
            label, used = row.label, row.used_ms
            name = f"enrollment token {quoted(label)}"
            stored = row.token_hash
            digest = token_digest(stored) if isinstance(stored, bytes) else ""
            t = logged.pop(digest, None)
            if t is None:
                old = self.old_enroll_tokens.get((row.created_ms, row.expires_ms))
                if old is None:
                    out.differ(f"{name}: in the store, but no entry created it")
                else:
                    out.unbound.append(f"{name}: not bound: its token entry ({old}) was {_OLD}")
                continue
            out.column(name, "label", label, t.label, quoted)
            out.column(name, "created", row.created_ms, t.created_ms, when)
            out.column(name, "expiry", row.expires_ms, t.expires_ms, when)
            if used is None and t.used_ms is not None:
                out.differ(f"{name}: used in the log at {when(t.used_ms)}, not used in the store")
            elif used is not None and t.used_ms is None:
                out.differ(f"{name}: used in the store at {when(used)}, not in the log")
            elif used != t.used_ms:
                out.differ(f"{name}: used at {when(used)} in the store, at {when(t.used_ms)} "
                           "in the log")  # fmt: skip
            dev = None if row.device_id is None else _id(row.device_id)
            if used is not None and dev != t.device:
                out.differ(f"{name}: enrolled device {dev} in the store, {t.device} in the log")
        for t in logged.values():
            out.differ(
                f"enrollment token {quoted(t.label)}: created in the log (entry {t.index}), "
                "not in the store"
            )

    def _admin_tokens(self, source: LogSource, batch: int, out: _Out) -> None:
        logged = dict(self.admin_tokens)
        for row in source.admin_tokens(batch=batch):
            label, created = row.label, row.created_ms
            name = f"admin token {quoted(label)}"
            stored = row.token_hash
            digest = token_digest(stored) if isinstance(stored, bytes) else ""
            t = logged.pop(digest, None)
            if t is None:
                old = self.old_admin_tokens.get((label, created))
                if old is None:
                    out.differ(f"{name}: in the store (role {row.role}), but no entry created it")
                else:
                    out.unbound.append(f"{name}: not bound: its token entry ({old}) was {_OLD}")
                continue
            out.column(name, "role", row.role, t.role, str)
            out.column(name, "label", label, t.label, quoted)
            out.column(name, "created", created, t.created_ms, when)
            out.revocation(name, row.revoked_ms, t.revoked_ms)
        for t in logged.values():
            out.differ(
                f"admin token {quoted(t.label)}: created in the log (entry {t.index}), "
                "not in the store"
            )


@dataclass
class _Out:
    differences: list[str]
    unbound: list[str] = field(default_factory=list)

    def differ(self, message: str) -> None:
        self.differences.append(message)

    def column(
        self, name: str, what: str, store: object, log: object, show: Callable[[Any], str]
    ) -> None:
        if store != log:
            self.differ(f"{name}: {what} {show(store)} in the store, {show(log)} in the log")

    def revocation(self, name: str, store: object, log: int | None) -> None:
        if store is None and log is not None:
            self.differ(f"{name}: revoked in the log at {when(log)}, not revoked in the store")
        elif store is not None and log is None:
            self.differ(f"{name}: revoked in the store at {when(store)}, not in the log")
        elif store != log:
            self.differ(f"{name}: revoked at {when(store)} in the store, at {when(log)} in the log")


def _ms(t: datetime.datetime) -> int:
    return int(t.timestamp() * 1000)


def _certificate(
    out: _Out,
    name: str,
    stored: object,
    signing_public: bytes | None,
    project_id: str | None,
    device_id: object,
    serial: object,
    label: object,
    public_key: object,
    not_before_ms: object,
    not_after_ms: object,
) -> None:
    """The stored certificate verifies with the log's key and says what its row says."""
    if not isinstance(stored, bytes) or len(stored) <= 64:
        out.differ(f"{name}: its certificate in the store is not a signed certificate")
        return
    body, signature = stored[:-64], stored[-64:]
    if signing_public is not None:
        try:
            Ed25519PublicKey.from_public_bytes(signing_public).verify(signature, CERT_LABEL + body)
        except (InvalidSignature, ValueError):
            out.differ(f"{name}: its certificate does not verify with the log's key")
            return
    try:
        cert = _cert_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        out.differ(f"{name}: its certificate in the store cannot be read")
        return
    if _cert_encoder.encode(cert) != body:
        out.differ(f"{name}: its certificate in the store is not canonically encoded")
    fields = [
        ("project", project_id, str(cert.project_id)),
        ("device id", _id(device_id), str(cert.device_id)),
        ("public key", public_key, cert.public_key),
        ("serial", serial, cert.serial),
        ("label", label, cert.label),
        ("not_before", not_before_ms, _ms(cert.not_before)),
        ("not_after", not_after_ms, _ms(cert.not_after)),
    ]
    for what, row, signed in fields:
        if what == "project" and row is None:
            continue
        if row != signed:
            out.differ(f"{name}: its {what} in the store differs from its certificate")
