"""The project identity, encrypted at rest (docs/spec/api-v1.md §8).

A project holds two private keys: X25519 (bundles are sealed to it) and Ed25519 (it signs
device certificates, receipts and log checkpoints). They are stored in one file,
``identity.sealed``, encrypted with ChaCha20-Poly1305 under a key derived from a
passphrase with Argon2id (parameters stored in the file) or read from a 32-byte key file.
The plaintext keys exist only in memory. Nothing here logs or prints key material.

Deriving that key costs Argon2id every time (about 0.4 s here, seconds on a small server).
:func:`unlock_key` derives it once and checks that it opens the file; the
:class:`UnlockedKey` it returns is bound to the exact file it opens (its SHA-256: salt,
KDF parameters, nonce, ciphertext) and opens nothing else. ``syncserver unlock`` hands
one to a key agent (:mod:`syncserver.project.agent`) that keeps it in memory for a while, so that
the next commands give it back as ``Secret(unlocked=...)`` instead of deriving again.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.bundle import RecipientKey, RecipientPublicKey

from .._fs import fsync_dir
from ..errors import IdentityError, PassphraseRejected

__all__ = [
    "KdfParams",
    "ProjectIdentity",
    "Secret",
    "UnlockedKey",
    "identity_binding",
    "load_identity",
    "save_identity",
    "unlock_key",
]

FILE_LABEL = b"sealsync/v1 project identity\x00"
MAX_IDENTITY_BYTES = 64 * 1024


class KdfParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Argon2id parameters, stored beside the ciphertext. Defaults: about 0.4 s here."""

    alg: Literal["argon2id", "keyfile"] = "argon2id"
    salt: Annotated[bytes, msgspec.Meta(min_length=16, max_length=64)] = b"\x00" * 16
    iterations: Annotated[int, msgspec.Meta(ge=1, le=64)] = 3
    lanes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    memory_kib: Annotated[int, msgspec.Meta(ge=8, le=4 * 1024 * 1024)] = 256 * 1024


class _Plain(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    project_id: uuid.UUID
    x25519: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    ed25519: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    store_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class _Sealed(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    v: Literal[1]
    kdf: KdfParams
    nonce: Annotated[bytes, msgspec.Meta(min_length=12, max_length=12)]
    ciphertext: bytes


@dataclass(frozen=True, repr=False)
class UnlockedKey:
    """The key that decrypts one identity file, already derived from its secret.

    ``binding`` is the SHA-256 of the file it was derived for (:func:`identity_binding`):
    :func:`load_identity` refuses it for any other file, e.g. one saved again under a new
    salt or passphrase. Never written anywhere; a key agent holds it only in memory.
    """

    key: bytes = field(repr=False)
    binding: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32 or len(self.binding) != 32:
            raise ValueError("an unlocked key and its binding are 32 bytes each")

    def __repr__(self) -> str:
        return f"UnlockedKey(for identity {self.binding[:4].hex()}…)"


@dataclass(frozen=True)
class Secret:
    """What unlocks the identity: a passphrase, the bytes of a key file, or a key
    already derived from one of them (:func:`unlock_key`)."""

    passphrase: str | None = field(default=None, repr=False)
    key_file: bytes | None = field(default=None, repr=False)
    unlocked: UnlockedKey | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        given = [x for x in (self.passphrase, self.key_file, self.unlocked) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of passphrase, key_file and unlocked")
        if self.key_file is not None and len(self.key_file) != 32:
            raise IdentityError(
                "key file must hold exactly 32 bytes",
                hint="create one with `head -c 32 /dev/urandom > project.key`",
            )

    def __repr__(self) -> str:
        if self.unlocked is not None:
            return "Secret(unlocked key)"
        return "Secret(passphrase)" if self.passphrase is not None else "Secret(key file)"


@dataclass(frozen=True, repr=False)
class ProjectIdentity:
    """The project's keys. ``store_key`` encrypts sensitive answers in the store."""

    project_id: uuid.UUID
    recipient: RecipientKey
    signing: Ed25519PrivateKey
    store_key: bytes = field(repr=False)

    @classmethod
    def generate(cls, project_id: uuid.UUID | None = None) -> ProjectIdentity:
        return cls(
            project_id or uuid.uuid4(),
            RecipientKey.generate(),
            Ed25519PrivateKey.generate(),
            os.urandom(32),
        )

    @property
    def recipient_public(self) -> RecipientPublicKey:
        return self.recipient.public()

    @property
    def signing_public(self) -> Ed25519PublicKey:
        return self.signing.public_key()

    def signing_public_bytes(self) -> bytes:
        return self.signing_public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"ProjectIdentity(project_id={self.project_id})"


def _key(secret: Secret, kdf: KdfParams) -> bytes:
    if secret.unlocked is not None:
        return secret.unlocked.key  # derived earlier; load_identity checked its binding
    if kdf.alg == "keyfile":
        if secret.key_file is None:
            raise PassphraseRejected(
                "this project is locked with a key file", hint="pass --key-file PATH"
            )
        return HKDF(hashes.SHA256(), 32, kdf.salt, FILE_LABEL).derive(secret.key_file)
    if secret.passphrase is None:
        raise PassphraseRejected(
            "this project is locked with a passphrase",
            hint="give the passphrase at the prompt, with --passphrase-file or SEALSYNC_PASSPHRASE",
        )
    return Argon2id(
        salt=kdf.salt,
        length=32,
        iterations=kdf.iterations,
        lanes=kdf.lanes,
        memory_cost=kdf.memory_kib,
    ).derive(secret.passphrase.encode("utf-8"))


def save_identity(
    path: Path, identity: ProjectIdentity, secret: Secret, *, kdf: KdfParams | None = None
) -> None:
    """Encrypt ``identity`` under ``secret`` and write it atomically (0600, fsync)."""
    if secret.unlocked is not None:
        # An unlocked key belongs to the old salt: the new file would open with it alone.
        raise IdentityError(
            "saving the project identity needs the passphrase or key file itself",
            hint="give it at the prompt, with --passphrase-file or --key-file",
        )
    if kdf is None:
        kdf = KdfParams(alg="keyfile" if secret.key_file is not None else "argon2id")
    kdf = msgspec.structs.replace(kdf, salt=os.urandom(16))
    plain = msgspec.msgpack.Encoder(uuid_format="bytes").encode(
        _Plain(
            project_id=identity.project_id,
            x25519=identity.recipient.private.private_bytes_raw(),
            ed25519=identity.signing.private_bytes_raw(),
            store_key=identity.store_key,
        )
    )
    nonce = os.urandom(12)
    header = msgspec.msgpack.encode(kdf)
    ct = ChaCha20Poly1305(_key(secret, kdf)).encrypt(nonce, plain, FILE_LABEL + header)
    data = msgspec.msgpack.encode(_Sealed(v=1, kdf=kdf, nonce=nonce, ciphertext=ct))
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def identity_binding(data: bytes) -> bytes:
    """What an :class:`UnlockedKey` is bound to: the SHA-256 of the identity file's bytes."""
    return hashlib.sha256(data).digest()


def _read_sealed(path: Path) -> tuple[bytes, _Sealed]:
    try:
        data = path.read_bytes()[: MAX_IDENTITY_BYTES + 1]
    except OSError as e:
        raise IdentityError(
            f"cannot read the project identity ({e.strerror})",
            hint="check the project directory, or create one with `syncserver init DIR`",
        ) from None
    try:
        if len(data) > MAX_IDENTITY_BYTES:
            raise ValueError
        sealed = msgspec.msgpack.decode(data, type=_Sealed)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        raise IdentityError(
            "the project identity file is damaged",
            hint="restore identity.sealed from a backup",
        ) from None
    return data, sealed


def _open(sealed: _Sealed, key: bytes) -> bytes:
    header = msgspec.msgpack.encode(sealed.kdf)
    try:
        return ChaCha20Poly1305(key).decrypt(sealed.nonce, sealed.ciphertext, FILE_LABEL + header)
    except InvalidTag:
        raise PassphraseRejected(
            "passphrase or key file rejected", hint="check it and try again"
        ) from None


def unlock_key(path: Path, secret: Secret) -> UnlockedKey:
    """Derive the key that opens the identity file at ``path`` from ``secret``, check
    that it does, and return it bound to that file. :class:`PassphraseRejected` if the
    secret is wrong."""
    data, sealed = _read_sealed(path)
    key = _key(secret, sealed.kdf)
    _open(sealed, key)
    return UnlockedKey(key=key, binding=identity_binding(data))


def load_identity(path: Path, secret: Secret) -> ProjectIdentity:
    """Decrypt the identity; :class:`PassphraseRejected` if the secret is wrong (or is an
    :class:`UnlockedKey` for another file)."""
    data, sealed = _read_sealed(path)
    if secret.unlocked is not None and secret.unlocked.binding != identity_binding(data):
        raise PassphraseRejected(
            "the unlocked key is for an earlier identity file",
            hint="run `syncserver unlock` again, or give the passphrase or key file",
        )
    plain = _open(sealed, _key(secret, sealed.kdf))
    p = msgspec.msgpack.decode(plain, type=_Plain)
    return ProjectIdentity(
        project_id=p.project_id,
        recipient=RecipientKey(X25519PrivateKey.from_private_bytes(p.x25519)),
        signing=Ed25519PrivateKey.from_private_bytes(p.ed25519),
        store_key=p.store_key,
    )
