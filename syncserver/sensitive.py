"""Sensitive answers, kept out of plain columns (docs/spec/api-v1.md §9).

Answers to questions marked ``sensitive`` (identity fields, narratives) are split off a
record before it is stored, encrypted with ChaCha20-Poly1305 under the project's store
key (AAD: record id, version and SHA-256), and kept in the ``sealed`` column. The
``answers`` column holds the rest. :func:`join` puts them back for a role that may see them.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from schemas.survey import Form

__all__ = ["join", "open_sealed", "seal", "sensitive_names", "split"]

LABEL = b"sealsync/v1 sensitive answers\x00"


def sensitive_names(form: Form) -> tuple[set[str], dict[str, set[str]]]:
    """Top-level sensitive names, and per repeat the sensitive names inside it."""
    top: set[str] = set()
    repeats: dict[str, set[str]] = {}
    for it, parents in form.walk():
        if not it.sensitive:
            continue
        rep = next((p.name for p in reversed(parents) if p.type == "repeat"), None)
        if rep is None:
            top.add(it.name)
        else:
            repeats.setdefault(rep, set()).add(it.name)
    return top, repeats


def split(
    answers: dict[str, Any], names: tuple[set[str], dict[str, set[str]]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, secret): secret mirrors the structure, holding only sensitive answers."""
    top, repeats = names
    plain: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for k, v in answers.items():
        if k in top:
            secret[k] = v
        elif k in repeats and isinstance(v, list):
            inner = repeats[k]
            plain[k] = [{a: b for a, b in e.items() if a not in inner} for e in v]
            hidden = [{a: b for a, b in e.items() if a in inner} for e in v]
            if any(hidden):
                secret[k] = hidden
        else:
            plain[k] = v
    return plain, secret


def join(plain: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    out = dict(plain)
    for k, v in secret.items():
        if isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = [{**a, **b} for a, b in zip(out[k], v, strict=True)]
        else:
            out[k] = v
    return out


def _aad(record_id: uuid.UUID, version: int, sha256: bytes) -> bytes:
    return LABEL + record_id.bytes + version.to_bytes(8, "big") + sha256


def seal(
    key: bytes, record_id: uuid.UUID, version: int, sha256: bytes, secret: dict[str, Any]
) -> bytes | None:
    if not secret:
        return None
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(key).encrypt(
        nonce, msgspec.msgpack.encode(secret), _aad(record_id, version, sha256)
    )
    return nonce + ct


def open_sealed(
    key: bytes, record_id: uuid.UUID, version: int, sha256: bytes, blob: bytes | None
) -> dict[str, Any]:
    if blob is None:
        return {}
    plain = ChaCha20Poly1305(key).decrypt(blob[:12], blob[12:], _aad(record_id, version, sha256))
    result: dict[str, Any] = msgspec.msgpack.decode(plain)
    return result
