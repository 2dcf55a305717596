"""C2SP signed notes with Ed25519 keys, verifying side (docs/spec/audit-log-v1.md §7, §8).

A note is UTF-8 text ending in a newline, a blank line, and signature lines
``— <key name> <base64(key id ‖ signature)>``. A key is known by the pair (name, key id);
signatures by other keys are kept as unverified and otherwise ignored. Parsing is strict:
anything a canonical signer would not have written is rejected with a
:class:`~schemas.errors.NoteInvalid` naming the rule (see :class:`~schemas.errors.NoteReason`).
This module verifies only; signing lives in the writer (syncserver.tlog).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import NoteInvalid, NoteReason, VerifierKeyInvalid

__all__ = [
    "ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "NoteVerifier",
    "key_id",
    "open_note",
    "parse_verifier_key",
]

#: Signature type byte of Ed25519 keys (c2sp.org/signed-note, "Signature types").
ED25519 = 0x01
#: Notes larger than this many bytes are rejected before any parsing.
MAX_NOTE_BYTES = 1 << 20
#: Notes with more signature lines than this are rejected.
MAX_SIGNATURES = 100

_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX = re.compile("[0-9a-f]{8}")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    data = name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key
    return hashlib.sha256(data).digest()[:4]


def _valid_name(name: str) -> bool:
    """Key names are non-empty, with no Unicode space, no '+' and no control character."""
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() for c in name)
        and _CONTROL.search(name) is None
    )


def _b64decode_canonical(s: str) -> bytes | None:
    """Standard base64 (RFC 4648 §4) with padding, or None unless ``s`` is canonical."""
    if not s or not s.isascii():
        return None
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Reject non-zero padding bits: there is exactly one encoding of any bytes.
    if base64.b64encode(raw).decode("ascii") != s:
        return None
    return raw


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 key that signs notes: its name, 4-byte key ID and public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise VerifierKeyInvalid("key name must be non-empty, without spaces or '+'")
        if len(self.public_key) != 32:
            raise VerifierKeyInvalid("an Ed25519 public key is 32 bytes")
        if self.key_id != key_id(self.name, self.public_key):
            raise VerifierKeyInvalid(f"key ID does not match the key named {self.name!r}")

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> NoteVerifier:
        """The verifier for ``name`` and a raw 32-byte Ed25519 public key."""
        return cls(name, key_id(name, public_key), bytes(public_key))

    @property
    def vkey(self) -> str:
        """The verifier key string: ``<name>+<hex key ID>+<base64(0x01 ‖ public key)>``."""
        b64 = base64.b64encode(bytes([ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{b64}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (64 bytes, without the key ID) is valid over ``message``."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_verifier_key(vkey: str) -> NoteVerifier:
    """Parse ``<name>+<8 lowercase hex digits>+<base64(0x01 ‖ 32-byte key)>`` (§7.2).

    Raises :class:`~schemas.errors.VerifierKeyInvalid` unless every part is canonical and
    the key ID is the one derived from the name and key.
    """
    if not isinstance(vkey, str):
        raise VerifierKeyInvalid("a verifier key is a string")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise VerifierKeyInvalid("a verifier key is <name>+<key id>+<base64 key>")
    name, hex_id, b64 = parts
    if not _valid_name(name):
        raise VerifierKeyInvalid("key name must be non-empty, without spaces or '+'")
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise VerifierKeyInvalid("key ID must be 8 lowercase hexadecimal digits")
    raw = _b64decode_canonical(b64)
    if raw is None:
        raise VerifierKeyInvalid("key is not canonical base64")
    if len(raw) != 33 or raw[0] != ED25519:
        raise VerifierKeyInvalid("key is not type 0x01 (Ed25519) followed by 32 bytes")
    return NoteVerifier(name, bytes.fromhex(hex_id), raw[1:])


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A note that passed :func:`open_note`: its text (with the final newline) and its
    signatures, split into those verified by a known key and those by unknown keys."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _decode(note: str | bytes) -> str:
    """The note as text, after the size, UTF-8 and control-character checks (§8.2)."""
    if isinstance(note, str):
        if len(note) > MAX_NOTE_BYTES:
            raise NoteInvalid(NoteReason.OVERSIZED, f"more than {MAX_NOTE_BYTES} bytes")
        try:
            data = note.encode("utf-8")
        except UnicodeEncodeError as e:
            raise NoteInvalid(NoteReason.NOT_UTF8, f"at character {e.start}") from None
    elif isinstance(note, (bytes, bytearray, memoryview)):
        data = bytes(note)
    else:
        raise TypeError("a note is str or bytes")
    if len(data) > MAX_NOTE_BYTES:
        raise NoteInvalid(NoteReason.OVERSIZED, f"{len(data)} bytes > {MAX_NOTE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NoteInvalid(NoteReason.NOT_UTF8, f"at byte {e.start}") from None
    m = _CONTROL.search(text)
    if m is not None:
        raise NoteInvalid(
            NoteReason.CONTROL_CHARACTER, f"U+{ord(m.group()):04X} at character {m.start()}"
        )
    return text


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise NoteInvalid(NoteReason.MALFORMED_SIGNATURE, f"line {number}: no '\u2014 ' prefix")
    name, space, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not space or not _valid_name(name):
        raise NoteInvalid(NoteReason.MALFORMED_SIGNATURE, f"line {number}: bad key name")
    raw = _b64decode_canonical(b64)
    if raw is None:
        raise NoteInvalid(NoteReason.MALFORMED_SIGNATURE, f"line {number}: not canonical base64")
    if len(raw) < 5:
        raise NoteInvalid(NoteReason.MALFORMED_SIGNATURE, f"line {number}: too short")
    return NoteSignature(name, raw[:4], raw[4:])


def _verifier_map(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if not isinstance(v, NoteVerifier):
            raise TypeError("verifiers must be NoteVerifier values (see parse_verifier_key)")
        other = known.setdefault((v.name, v.key_id), v)
        if other.public_key != v.public_key:
            raise VerifierKeyInvalid(f"two keys share the name {v.name!r} and key ID")
    return known


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and verify it against the trusted keys (§8).

    Every signature by a known key (same name *and* key ID) MUST verify, and at least one
    MUST be present; signatures by other keys are returned as ``unverified``. Raises
    :class:`~schemas.errors.NoteInvalid` with the rule that was broken.
    """
    known = _verifier_map(verifiers)
    text = _decode(note)
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteInvalid(NoteReason.MALFORMED_NOTE, "no blank line before the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteInvalid(NoteReason.MALFORMED_NOTE, "no signature lines")
    if not block.endswith("\n"):
        raise NoteInvalid(NoteReason.MALFORMED_NOTE, "the last signature line has no newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteInvalid(NoteReason.TOO_MANY_SIGNATURES, f"{len(lines)} signature lines")
    message = body.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for number, line in enumerate(lines, start=1):
        sig = _parse_signature_line(line, number)
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            unverified.append(sig)
            continue
        if (sig.name, sig.key_id) in seen:
            raise NoteInvalid(
                NoteReason.DUPLICATE_SIGNATURE, f"line {number}: second signature by {sig.name}"
            )
        seen.add((sig.name, sig.key_id))
        if not verifier.verify(message, sig.signature):
            raise NoteInvalid(
                NoteReason.SIGNATURE_INVALID, f"line {number}: signature by {sig.name}"
            )
        verified.append(sig)
    if not verified:
        raise NoteInvalid(NoteReason.NO_KNOWN_SIGNATURE, f"{len(lines)} signature(s), none known")
    return Note(body, tuple(verified), tuple(unverified))
