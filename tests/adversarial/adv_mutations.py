"""What an adversary can do to a bundle (docs/spec/bundle-v1.md), as hypothesis strategies.

Shared by the adversarial tests and ``bench/fuzz.py``. Two kinds of adversary:

* **Without keys** (anyone on the path, a seized laptop's outbox): flip bits, cut, extend,
  splice two bundles, duplicate/reorder/swap chunks, insert or delete bytes, rewrite header
  fields in place (version line, stanza count, stanza bytes, ids, nonce, MAC).
* **With the recipient's public key** (everyone has it: it is pinned on every device).
  Such an adversary can seal *anything* to the server: pick the file key, rewrite header
  fields and keep the header MAC right, cut the payload into chunks of any size, rewrite
  the manifest and the records, and sign with any Ed25519 key: the genuine enrolled
  device's (a stolen or compromised device: a legitimate bundle as far as the server can
  tell), a wrong key under the enrolled device's id, or a key of a device id the server
  never enrolled. The tests hold the recipient's *private* key only to take a valid
  bundle apart (:func:`take_apart`), which saves re-deriving every part by hand.

Every generated case is a :class:`Mutant`: the bytes, what was done (``kind``), and
whether it was re-signed with the genuine device key (only such a bundle may open).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import strategies as st

from schemas.bundle import RecipientKey, RecipientPublicKey, read_header
from schemas.bundle._header import (
    LABEL_HEADER,
    LABEL_PAYLOAD,
    LABEL_X25519,
    MAC_SIZE,
    PREFIX_SIZE,
    STANZA_SIZE,
    VERSION_LINE,
    ZERO_NONCE,
    hkdf,
)
from schemas.bundle._manifest import SIG_LABEL
from schemas.bundle._stream import CHUNK_SIZE, ENC_CHUNK, StreamReader

__all__ = [
    "Keys",
    "Mutant",
    "Parts",
    "forge",
    "keyed_mutants",
    "mutants",
    "raw_mutants",
    "take_apart",
]

_uuid_fmt = msgspec.msgpack.Encoder(uuid_format="bytes")


@dataclass(frozen=True)
class Keys:
    """What the adversary may sign with. ``genuine`` is the enrolled device's key (a
    compromised device); ``stranger`` is any other key; ``stranger_id`` a device id the
    server never enrolled."""

    device_id: uuid.UUID
    genuine: Ed25519PrivateKey
    stranger: Ed25519PrivateKey
    stranger_id: uuid.UUID
    recipient: RecipientPublicKey


@dataclass(frozen=True)
class Parts:
    """A valid bundle taken apart: its header fields, file key and payload plaintext."""

    bundle_id: uuid.UUID
    project_id: uuid.UUID
    payload_nonce: bytes
    file_key: bytes
    manifest: dict[str, Any]  # decoded generically: UUIDs and hashes as bytes
    manifest_raw: bytes
    signature: bytes
    records: list[bytes]
    attachments: bytes  # the attachment bytes, concatenated in manifest order


@dataclass(frozen=True)
class Mutant:
    data: bytes
    kind: str
    #: Re-signed with the genuine device key over a header whose MAC is right: such a
    #: bundle is legitimate as far as anyone but the device can tell, and may open.
    may_open: bool = False


def take_apart(data: bytes, recipient: RecipientKey) -> Parts:
    header = read_header(io.BytesIO(data))
    file_key = header.unwrap(recipient)
    src = io.BytesIO(data[len(header.raw) :])
    stream = StreamReader(src, hkdf(file_key, header.payload_nonce, LABEL_PAYLOAD))  # type: ignore[arg-type]
    (mlen,) = struct.unpack(">I", stream.read(4))
    manifest_raw = stream.read(mlen)
    signature = stream.read(64)
    manifest = msgspec.msgpack.decode(manifest_raw)
    records = [stream.read(r["size"]) for r in manifest["records"]]
    attachments = stream.read(sum(a["size"] for a in manifest["attachments"]))
    stream.finish()
    return Parts(
        bundle_id=header.bundle_id,
        project_id=header.project_id,
        payload_nonce=header.payload_nonce,
        file_key=file_key,
        manifest=manifest,
        manifest_raw=manifest_raw,
        signature=signature,
        records=records,
        attachments=attachments,
    )


def _header(
    file_key: bytes,
    recipient: RecipientPublicKey,
    *,
    bundle_id: bytes,
    project_id: bytes,
    payload_nonce: bytes,
    ephemeral: bytes,
    decoys: list[bytes],
    count: int | None,
    sort: bool,
) -> bytes:
    """A header whose MAC is right for ``file_key``, with ``decoys`` as extra stanzas
    (16-byte key ids of nobody) and ``count`` in the count byte (default: the truth)."""
    n = 1 + len(decoys)
    prefix = (
        VERSION_LINE
        + bundle_id
        + project_id
        + payload_nonce
        + bytes([n if count is None else count])
    )
    eph = X25519PrivateKey.from_private_bytes(ephemeral)
    eph_pub = eph.public_key().public_bytes_raw()
    wrap_key = hkdf(eph.exchange(recipient.x25519()), eph_pub + recipient.raw, LABEL_X25519)
    aad = prefix + b"\x01" + recipient.key_id
    real = (
        b"\x01"
        + recipient.key_id
        + eph_pub
        + ChaCha20Poly1305(wrap_key).encrypt(ZERO_NONCE, file_key, aad)
    )
    stanzas = [real] + [b"\x01" + d + bytes(32) + bytes(48) for d in decoys]
    if sort:
        stanzas.sort(key=lambda s: s[1:17])
    body = prefix + b"".join(stanzas)
    return body + hmac.new(hkdf(file_key, b"", LABEL_HEADER), body, hashlib.sha256).digest()


def _encrypt(
    key: bytes, plaintext: bytes, cuts: list[int] | None = None, flags: list[bool] | None = None
) -> bytes:
    """The STREAM of ``plaintext``; by default cut as the spec says. ``cuts`` gives other
    chunk sizes, ``flags`` other final-chunk flags (an adversary who holds the key)."""
    if cuts is None:
        cuts = []
        rest = len(plaintext)
        while rest > CHUNK_SIZE:
            cuts.append(CHUNK_SIZE)
            rest -= CHUNK_SIZE
        cuts.append(rest)
    aead = ChaCha20Poly1305(key)
    out, pos = [], 0
    for i, n in enumerate(cuts):
        last = i == len(cuts) - 1 if flags is None else flags[i]
        nonce = i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        out.append(aead.encrypt(nonce, plaintext[pos : pos + n], None))
        pos += n
    return b"".join(out)


def forge(
    parts: Parts,
    keys: Keys,
    *,
    manifest_raw: bytes | None = None,
    records: list[bytes] | None = None,
    attachments: bytes | None = None,
    signer: str = "genuine",
    bundle_id: bytes | None = None,
    project_id: bytes | None = None,
    payload_nonce: bytes | None = None,
    decoys: list[bytes] | None = None,
    count: int | None = None,
    sort: bool = True,
    mlen_delta: int = 0,
    trailing_plain: bytes = b"",
    cuts: list[int] | None = None,
    flags: list[bool] | None = None,
    signature: bytes | None = None,
) -> bytes:
    """Seal ``parts`` (with whatever replaced) to the recipient, as the adversary can.

    ``signer``: ``genuine`` (the enrolled device's key), ``stranger`` (another key),
    ``none`` (keep ``parts.signature``: it was made over the original header).
    """
    manifest_raw = parts.manifest_raw if manifest_raw is None else manifest_raw
    header = _header(
        parts.file_key,
        keys.recipient,
        bundle_id=parts.bundle_id.bytes if bundle_id is None else bundle_id,
        project_id=parts.project_id.bytes if project_id is None else project_id,
        payload_nonce=parts.payload_nonce if payload_nonce is None else payload_nonce,
        ephemeral=hashlib.sha256(b"ephemeral" + manifest_raw).digest(),
        decoys=decoys or [],
        count=count,
        sort=sort,
    )
    signed = SIG_LABEL + hashlib.sha256(header).digest() + manifest_raw
    if signature is None:
        signature = {
            "genuine": lambda: keys.genuine.sign(signed),
            "stranger": lambda: keys.stranger.sign(signed),
            "none": lambda: parts.signature,
        }[signer]()
    plain = (
        struct.pack(">I", max(0, len(manifest_raw) + mlen_delta) & 0xFFFFFFFF)
        + manifest_raw
        + signature
        + b"".join(parts.records if records is None else records)
        + (parts.attachments if attachments is None else attachments)
        + trailing_plain
    )
    nonce = header[51:67]
    if cuts is not None:
        # Make the cuts cover the plaintext exactly (the rest goes in one last chunk).
        total, fixed = 0, []
        for c in cuts:
            if total + c > len(plain):
                break
            fixed.append(c)
            total += c
        fixed.append(len(plain) - total)
        cuts = fixed
        if flags is not None:
            flags = (flags + [False] * len(cuts))[: len(cuts)]
    return header + _encrypt(hkdf(parts.file_key, nonce, LABEL_PAYLOAD), plain, cuts, flags)


# -------------------------------------------------------------------------------- raw

_OFFSETS = {
    "version": (0, 19),
    "bundle_id": (19, 35),
    "project_id": (35, 51),
    "nonce": (51, 67),
    "count": (67, 68),
    "stanza_type": (68, 69),
    "key_id": (69, 85),
    "ephemeral": (85, 117),
    "wrapped": (117, 165),
    "mac": (165, 197),
}


@st.composite
def raw_mutants(draw: st.DrawFn, bases: list[bytes]) -> Mutant:
    """A mutation made without any key."""
    a = draw(st.sampled_from(bases))
    b = draw(st.sampled_from(bases))
    n = len(a)
    pos = st.one_of(st.integers(0, 400), st.integers(0, n - 1), st.integers(max(0, n - 300), n - 1))
    kind = draw(
        st.sampled_from(
            [
                "bitflips", "truncate", "extend", "splice", "insert", "delete",
                "chunk_dup", "chunk_drop", "chunk_swap", "chunk_foreign",
                "header_field", "stanza_count", "version_line", "stanza_resize",
            ]
        )
    )  # fmt: skip
    out = bytearray(a)
    if kind == "bitflips":
        for _ in range(draw(st.integers(1, 4))):
            out[draw(pos)] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        out = out[: draw(pos)]
    elif kind == "extend":
        out += draw(
            st.one_of(
                st.binary(min_size=1, max_size=100),
                st.just(b[PREFIX_SIZE + STANZA_SIZE + MAC_SIZE :][:ENC_CHUNK]),
                st.just(bytes(ENC_CHUNK)),
            )
        )
    elif kind == "splice":
        i = draw(st.integers(0, n))
        j = draw(st.integers(0, len(b)))
        out = bytearray(a[:i] + b[j:])
    elif kind == "insert":
        i = draw(pos)
        out[i:i] = draw(st.binary(min_size=1, max_size=40))
    elif kind == "delete":
        i = draw(pos)
        del out[i : i + draw(st.integers(1, 40))]
    elif kind.startswith("chunk_"):
        hlen = len(read_header(io.BytesIO(a)).raw)
        chunks = [a[i : i + ENC_CHUNK] for i in range(hlen, n, ENC_CHUNK)]
        k = draw(st.integers(0, len(chunks) - 1))
        if kind == "chunk_dup":
            chunks.insert(k, chunks[k])
        elif kind == "chunk_drop" and len(chunks) > 1:
            del chunks[k]
        elif kind == "chunk_swap" and len(chunks) > 1:
            m = draw(st.integers(0, len(chunks) - 1))
            chunks[k], chunks[m] = chunks[m], chunks[k]
        else:  # a chunk from the other bundle at the same position
            hb = len(read_header(io.BytesIO(b)).raw)
            other = [b[i : i + ENC_CHUNK] for i in range(hb, len(b), ENC_CHUNK)]
            chunks[k] = other[min(k, len(other) - 1)]
        out = bytearray(a[:hlen] + b"".join(chunks))
    elif kind == "header_field":
        lo, hi = _OFFSETS[draw(st.sampled_from(sorted(_OFFSETS)))]
        out[lo:hi] = draw(
            st.one_of(st.binary(min_size=hi - lo, max_size=hi - lo), st.just(b[lo:hi]))
        )
    elif kind == "stanza_count":
        out[67] = draw(st.integers(0, 255))
    elif kind == "version_line":
        out[0:19] = draw(
            st.sampled_from(
                [b"sealsync/bundle/v2\n", b"sealsync/bundle/v0\n", b"sealsync/bundle/V1\n",
                 b"sealsync/bundle/v1\r", b"SEALSYNC/bundle/v1\n", b"age-encryption.org/"]
            )
        )  # fmt: skip
    else:  # stanza_resize: a stanza one byte shorter or longer (the count is not changed)
        i = draw(st.integers(68, 68 + STANZA_SIZE))
        if draw(st.booleans()):
            out[i:i] = b"\x00"
        else:
            del out[i]
    return Mutant(bytes(out), kind)


# -------------------------------------------------------------------------------- keyed


def _reencode(m: dict[str, Any]) -> bytes:
    return _uuid_fmt.encode(m)


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=40),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), max_size=3),
)


@st.composite
def _manifest_edit(draw: st.DrawFn, parts: Parts, keys: Keys) -> tuple[bytes, str]:
    """The manifest with one field rewritten (a fresh dict each time)."""
    m = msgspec.msgpack.decode(parts.manifest_raw)
    what = draw(
        st.sampled_from(
            [
                "device_id", "device_seq", "prev", "created_at", "record_field",
                "record_drop", "record_dup", "attachment_field", "unknown_key",
                "drop_key", "junk_value", "non_canonical", "swap_records",
            ]
        )
    )  # fmt: skip
    if what == "device_id":
        m["device_id"] = draw(st.sampled_from([keys.stranger_id.bytes, bytes(16), b"x" * 15]))
    elif what == "device_seq":
        m["device_seq"] = draw(st.sampled_from([0, -1, 2**63, 2**63 - 1, 2, 10**6]))
    elif what == "prev":
        m["prev_bundle_sha256"] = draw(st.sampled_from([bytes(31), b"\xff" * 32, bytes(33)]))
    elif what == "created_at":
        m["created_at"] = draw(
            st.sampled_from(
                [
                    datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC),
                    datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC),
                    datetime.datetime(2030, 1, 1),  # naive
                    "2030-01-01T00:00:00Z",
                    0,
                ]
            )
        )
    elif what == "record_field" and m["records"]:
        r = m["records"][draw(st.integers(0, len(m["records"]) - 1))]
        key = draw(st.sampled_from(sorted(r)))
        r[key] = draw(
            st.one_of(
                _junk,
                st.sampled_from(
                    [0, 1, 2**31, 2**63 - 1, 10**9, "escapee-interview", "X", bytes(32)]
                ),
            )
        )
    elif what == "record_drop" and m["records"]:
        del m["records"][draw(st.integers(0, len(m["records"]) - 1))]
    elif what == "record_dup" and m["records"]:
        m["records"].append(dict(m["records"][0]))
    elif what == "swap_records" and len(m["records"]) > 1:
        m["records"].reverse()
    elif what == "attachment_field":
        entry = {
            "record_id": m["records"][0]["record_id"],
            "name": "a.bin",
            "media_type": "image/jpeg",
            "size": 0,
            "sha256": hashlib.sha256(b"").digest(),
        }
        if m["attachments"]:
            entry = m["attachments"][0]
        key = draw(st.sampled_from(sorted(entry)))
        entry[key] = draw(
            st.one_of(
                _junk, st.sampled_from(["../etc/passwd", ".hidden", "a" * 101, 2**62, bytes(16)])
            )
        )
        if not m["attachments"]:
            m["attachments"].append(entry)
    elif what == "unknown_key":
        m[draw(st.sampled_from(["extra", "records_", ""]))] = draw(_junk)
    elif what == "drop_key":
        del m[draw(st.sampled_from(sorted(m)))]
    elif what == "junk_value":
        m[draw(st.sampled_from(sorted(m)))] = draw(_junk)
    if what == "non_canonical":
        raw = parts.manifest_raw
        # 0x81.. fixmap → map16 with the same entries: same meaning, other bytes
        raw = b"\xde" + struct.pack(">H", raw[0] & 0x0F) + raw[1:]
        return raw, what
    return _reencode(m), what


@st.composite
def _record_edit(
    draw: st.DrawFn, parts: Parts, answers: st.SearchStrategy[Any]
) -> tuple[list[bytes], dict[str, Any], str]:
    """One record's bytes replaced (hostile answers or arbitrary msgpack) with the
    manifest entry fixed up to match, as a compromised device would."""
    m = msgspec.msgpack.decode(parts.manifest_raw)
    i = draw(st.integers(0, len(parts.records) - 1))
    rec = msgspec.msgpack.decode(parts.records[i])
    what = draw(st.sampled_from(["answers", "answer", "field", "arbitrary", "deep", "stopped"]))
    if what == "answers":
        rec["answers"] = draw(answers)
    elif what == "answer":
        rec["answers"] = dict(rec["answers"])
        rec["answers"][draw(st.sampled_from(sorted(rec["answers"]) or ["consent"]))] = draw(
            answers.flatmap(lambda a: st.sampled_from(list(a.values()) or [None]))
        )
    elif what == "field":
        rec[draw(st.sampled_from(sorted(rec) + ["extra"]))] = draw(_junk)
    elif what == "deep":
        v: Any = draw(st.sampled_from(["x", 1, None]))
        for _ in range(draw(st.sampled_from([50, 200, 1000, 5000]))):
            v = [v] if draw(st.booleans()) else {"k": v}
        rec["answers"] = dict(rec["answers"], deep=v)
    elif what == "stopped":
        rec["stopped_early"] = draw(st.sampled_from([True, 1, "yes"]))
    if what == "arbitrary":
        raw = draw(st.binary(max_size=200))
    else:
        try:
            raw = _uuid_fmt.encode(rec)
        except (RecursionError, OverflowError, TypeError, ValueError):
            raw = draw(st.binary(max_size=50))
    records = list(parts.records)
    records[i] = raw
    m["records"][i]["size"] = len(raw)
    m["records"][i]["sha256"] = hashlib.sha256(raw).digest()
    return records, m, f"record_{what}"


@st.composite
def keyed_mutants(
    draw: st.DrawFn, parts_list: list[Parts], keys: Keys, answers: st.SearchStrategy[Any]
) -> Mutant:
    """A bundle sealed to the server by someone who holds only its public key."""
    parts = draw(st.sampled_from(parts_list))
    signer = draw(st.sampled_from(["genuine", "genuine", "stranger", "none"]))
    kind = draw(
        st.sampled_from(
            ["header", "decoys", "manifest", "record", "mlen", "trailing", "chunks", "resign"]
        )
    )
    kw: dict[str, Any] = {"signer": signer}
    if kind == "header":
        field = draw(st.sampled_from(["bundle_id", "project_id", "payload_nonce"]))
        if field == "bundle_id":
            kw["bundle_id"] = draw(
                st.one_of(
                    st.binary(min_size=16, max_size=16),
                    st.uuids(version=4).map(lambda u: u.bytes),
                    st.just(bytes(parts.bundle_id.bytes[:6]) + b"\x70" + bytes(9)),
                )
            )
        else:
            kw[field] = draw(st.binary(min_size=16, max_size=16))
    elif kind == "decoys":
        kw["decoys"] = draw(
            st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=8, unique=True)
        )
        kw["sort"] = draw(st.booleans())
        if draw(st.booleans()):
            kw["count"] = draw(st.integers(0, 255))
    elif kind == "manifest":
        kw["manifest_raw"], sub = draw(_manifest_edit(parts, keys))
        kind = f"manifest_{sub}"
    elif kind == "record":
        records, m, sub = draw(_record_edit(parts, answers))
        kw["records"] = records
        kw["manifest_raw"] = _reencode(m)
        kind = sub
    elif kind == "mlen":
        kw["mlen_delta"] = draw(
            st.sampled_from([-1, 1, -len(parts.manifest_raw), 2**31, 2**32 - 1, 64])
        )
    elif kind == "trailing":
        kw["trailing_plain"] = draw(st.binary(min_size=1, max_size=70_000))
    elif kind == "chunks":
        kw["cuts"] = draw(
            st.lists(
                st.sampled_from([0, 1, 16, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1]),
                min_size=1,
                max_size=4,
            )
        )
        if draw(st.booleans()):
            kw["flags"] = draw(st.lists(st.booleans(), min_size=1, max_size=5))
    # "resign": the same content, signed again (a no-op for the genuine key)
    data = forge(parts, keys, **kw)
    return Mutant(data, f"keyed_{kind}_{signer}", may_open=signer == "genuine")


def mutants(
    bases: list[bytes], parts_list: list[Parts], keys: Keys, answers: st.SearchStrategy[Any]
) -> st.SearchStrategy[Mutant]:
    return st.one_of(raw_mutants(bases), keyed_mutants(parts_list, keys, answers))
