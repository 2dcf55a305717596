"""Signing checkpoints as C2SP signed notes with Ed25519 (docs/spec/audit-log-v1.md §7-§9).

A note is its text, a blank line, then ``— <name> <base64(key ID ‖ signature)>\\n``; the
key ID of an Ed25519 key is SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. The signer
refuses anything a strict verifier would reject, so that the server never publishes a
checkpoint its own auditors cannot check.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._errors import NoteInputInvalid
from ._hash import EMPTY_TREE_HASH

__all__ = ["signer_key_id", "sign_checkpoint", "sign_note", "verifier_key"]

_ALG_ED25519 = b"\x01"
_EM_DASH_SPACE = "\u2014 "
_MAX_NOTE = 1 << 20
_BAD_TEXT = re.compile("[\x00-\x09\x0b-\x1f]")


def _check_name(name: str) -> None:
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or any(ch.isspace() for ch in name)
        or _BAD_TEXT.search(name)
    ):
        raise NoteInputInvalid(f"key name {name!r} must be non-empty, without spaces or '+'")


def _raw_public(public_key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(public_key, bytes) and len(public_key) == 32:
        return public_key
    raise NoteInputInvalid("an Ed25519 public key is an Ed25519PublicKey or 32 bytes")


def signer_key_id(name: str, public_key: Ed25519PublicKey | bytes) -> bytes:
    """The 4-byte key ID of ``name``'s Ed25519 key, as it appears in signature lines."""
    _check_name(name)
    digest = hashlib.sha256()
    digest.update(name.encode("utf-8"))
    digest.update(b"\n")
    digest.update(_ALG_ED25519)
    digest.update(_raw_public(public_key))
    return digest.digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """The verifier key string to publish: ``<name>+<hex key ID>+<base64(0x01 ‖ key)>``."""
    raw = _raw_public(public_key)
    encoded = base64.standard_b64encode(_ALG_ED25519 + raw).decode("ascii")
    return "+".join((name, signer_key_id(name, raw).hex(), encoded))


def sign_note(text: str, signer_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` (which MUST end in a newline) and return the complete note."""
    _check_name(signer_name)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise NoteInputInvalid("the signing key must be an Ed25519PrivateKey")
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteInputInvalid("note text must end with a newline")
    if _BAD_TEXT.search(text):
        raise NoteInputInvalid("note text must have no control character but newline")
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteInputInvalid("note text must be valid Unicode (no lone surrogates)") from None
    key_id = signer_key_id(signer_name, private_key.public_key())
    blob = base64.standard_b64encode(key_id + private_key.sign(message)).decode("ascii")
    note = f"{text}\n{_EM_DASH_SPACE}{signer_name} {blob}\n"
    if len(note.encode("utf-8")) > _MAX_NOTE:
        raise NoteInputInvalid("the signed note would be larger than 1 MiB")
    return note


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    signer_name: str,
    ed25519_private_key: Ed25519PrivateKey,
    *,
    extensions: Sequence[str] = (),
) -> str:
    """The signed checkpoint note for the tree of ``size`` leaves with root hash ``root``.

    The body is the origin, the size in decimal and the base64 root, one per line, then
    any extension lines. sealsync requires the key name to be the origin (§9.2), so
    ``signer_name`` MUST equal ``origin``.
    """
    _check_name(origin)
    if signer_name != origin:
        raise NoteInputInvalid("the signing key's name must be the checkpoint's origin")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**64:
        raise NoteInputInvalid("tree size must be an int in 0..2^64-1")
    if not isinstance(root, bytes) or len(root) != 32:
        raise NoteInputInvalid("root hash must be 32 bytes")
    if size == 0 and root != EMPTY_TREE_HASH:
        raise NoteInputInvalid('the root of the empty tree is SHA-256("")')
    lines = [origin, str(size), base64.standard_b64encode(root).decode("ascii")]
    for ext in extensions:
        if not isinstance(ext, str) or not ext or "\n" in ext:
            raise NoteInputInvalid("extension lines must be non-empty single lines")
        lines.append(ext)
    return sign_note("".join(line + "\n" for line in lines), signer_name, ed25519_private_key)
