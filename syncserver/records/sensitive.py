"""Sensitive answers, kept out of plain columns (docs/spec/api-v1.md §9).

Answers to questions marked ``sensitive`` (identity fields, narratives) are split off a
record before it is stored, encrypted with ChaCha20-Poly1305 under the project's store
key (AAD: record id, version and SHA-256), and kept in the ``sealed`` column. The
``answers`` column holds the rest. :func:`join` puts them back for a role that may see them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from schemas.survey import Form, Item

__all__ = ["SensitivePlan", "join", "open_sealed", "seal", "sensitive_plan", "split"]

LABEL = b"sealsync/v1 sensitive answers\x00"


@dataclass
class SensitivePlan:
    """The sensitive question names of one scope (the top level or one repeat), and the
    plan of each repeat inside it, to any depth."""

    names: set[str] = field(default_factory=set)
    repeats: dict[str, SensitivePlan] = field(default_factory=dict)


def sensitive_plan(form: Form) -> SensitivePlan:
    def build(items: tuple[Item, ...], plan: SensitivePlan) -> SensitivePlan:
        for it in items:
            if it.type == "repeat":
                plan.repeats[it.name] = build(it.items, SensitivePlan())
            elif it.type == "group":
                build(it.items, plan)
            elif it.sensitive:
                plan.names.add(it.name)
        return plan

    return build(form.items, SensitivePlan())


def split(answers: dict[str, Any], plan: SensitivePlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, secret): secret mirrors the structure, holding only sensitive answers,
    at every depth of nested repeats."""
    plain: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for k, v in answers.items():
        if k in plan.names:
            secret[k] = v
        elif k in plan.repeats and isinstance(v, list):
            parts = [split(e, plan.repeats[k]) for e in v]
            plain[k] = [p for p, _ in parts]
            if any(s for _, s in parts):
                secret[k] = [s for _, s in parts]
        else:
            plain[k] = v
    return plain, secret


def join(plain: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    out = dict(plain)
    for k, v in secret.items():
        if isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = [join(a, b) for a, b in zip(out[k], v, strict=True)]
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
