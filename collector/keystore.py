"""The field kit's keystore: the device key and the data key, sealed under a passphrase.

See docs/collector-at-rest.md §1–§2 and §6–§7. A kit's home directory holds::

    HOME/             0700
    HOME/keystore     0600  this module: the sealed keys and the wrong-try counter
    HOME/objects/     0700  collector.vault: every other byte the kit keeps, encrypted

``keystore`` is one msgpack map of constant structure: format version, Argon2id
parameters and salt, ``max_attempts``, ``failures``, a nonce, the sealed keys (the
device's Ed25519 key and the 32-byte data key, ChaCha20-Poly1305) and a 32-byte duress
verifier. One Argon2id derivation K = Argon2id(NFC(passphrase), salt) gives two keys by
HKDF: the wrapping key, and a verifier that is compared with the stored one. A kit with a
duress passphrase stores that passphrase's verifier; a kit without one stores 32 random
bytes, which look the same. Every unlock does the same work either way (one Argon2id,
one AEAD open, one comparison), so neither the file nor the timing of a wrong try shows
whether a duress passphrase exists.

**Wrong tries.** Before the KDF runs, ``failures`` is incremented and the file rewritten
atomically, so killing the process mid-try still counts the try; a right passphrase
resets it. When ``failures`` reaches ``max_attempts`` the kit is wiped and
:class:`~collector.errors.KeystoreWiped` raised. The counter lives on the disk an
attacker holds: one who copies the disk first can try passphrases offline without it.
Argon2id's cost is the real defence; the counter stops guessing on the device itself.

**Duress.** Entering the duress passphrase wipes the keys and all data, silently, and
returns the keys of a fresh, empty kit that from then on opens with the duress passphrase
(the same Argon2id parameters, salt and ``max_attempts``; no duress passphrase of its
own; not enrolled). To the caller it is an ordinary successful unlock.

**Wipe.** The keystore's bytes are overwritten with random data, fsynced and unlinked
first; then the objects are removed (not overwritten: they are ciphertext under a key
that no longer exists anywhere). Overwriting cannot be relied on for SSDs, journaling
or copy-on-write file systems and backups; the guarantee is that without the keystore
nothing else can be decrypted.

Public functions raise only :class:`~collector.errors.KeystoreError` subclasses.
"""

from __future__ import annotations

import hmac
import os
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import (
    KeystoreCorrupt,
    KeystoreError,
    KeystoreExists,
    KeystoreMissing,
    KeystoreWiped,
    PassphraseRejected,
)
from .vault import (
    FIXED_TIME,
    OBJECTS_DIR,
    _atomic_write,
    _fsync_dir,
    _locked,
    _open_read,
    is_vault_file,
    shred,
)

__all__ = [
    "HOME_ENV",
    "KEYSTORE_FILE",
    "KdfParams",
    "Keys",
    "change_passphrase",
    "create",
    "default_home",
    "exists",
    "tune_kdf",
    "unlock",
    "wipe",
]

HOME_ENV = "SEALSYNC_COLLECTOR_HOME"
KEYSTORE_FILE = "keystore"
FILE_LABEL = b"sealsync/v1 collector keystore\x00"
WRAP_LABEL = b"sealsync/v1 collector keystore wrap"
DURESS_LABEL = b"sealsync/v1 collector keystore duress verifier"
MAX_KEYSTORE_BYTES = 16 * 1024
MAX_ATTEMPTS_LIMIT = 100

#: Bounds for :func:`tune_kdf` (OWASP's floor is 19 MiB with 2 passes).
MIN_MEMORY_KIB = 19 * 1024
MAX_MEMORY_KIB = 256 * 1024
MAX_ITERATIONS = 16
_PROBE_MEMORY_KIB = 32 * 1024


class KdfParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Argon2id cost parameters, stored in the keystore (the salt is stored beside them).

    Choose them with :func:`tune_kdf`; tests pass cheap ones
    (``KdfParams(memory_kib=1024, iterations=1, lanes=1)``).
    """

    memory_kib: Annotated[int, msgspec.Meta(ge=8, le=4 * 1024 * 1024)] = 64 * 1024
    iterations: Annotated[int, msgspec.Meta(ge=1, le=64)] = 3
    lanes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4


class _Plain(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    data: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class _File(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    v: Literal[1]
    kdf: KdfParams
    salt: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPTS_LIMIT)]
    failures: Annotated[int, msgspec.Meta(ge=0, le=MAX_ATTEMPTS_LIMIT)]
    nonce: Annotated[bytes, msgspec.Meta(min_length=12, max_length=12)]
    sealed: Annotated[bytes, msgspec.Meta(max_length=1024)]
    duress: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


@dataclass(frozen=True, eq=False, repr=False)
class Keys:
    """The unlocked keys. ``repr`` shows neither; nothing here logs them."""

    device_key: Ed25519PrivateKey = field(repr=False)
    data_key: bytes = field(repr=False)

    @property
    def device_public(self) -> Ed25519PublicKey:
        return self.device_key.public_key()

    def __repr__(self) -> str:
        return "Keys(device_key=<hidden>, data_key=<hidden>)"


# -- home ---------------------------------------------------------------------------------


def default_home() -> Path:
    """``$SEALSYNC_COLLECTOR_HOME``, else ``$XDG_DATA_HOME/sealsync``, else
    ``~/.local/share/sealsync``."""
    if override := os.environ.get(HOME_ENV):
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: relative values are ignored
        return Path(xdg) / "sealsync"
    return Path.home() / ".local" / "share" / "sealsync"


def exists(home: Path | str) -> bool:
    """Whether ``home`` holds a keystore."""
    return (Path(home) / KEYSTORE_FILE).is_file()


# -- the KDF ------------------------------------------------------------------------------


def _derive(passphrase: str, salt: bytes, kdf: KdfParams) -> bytes:
    """K = Argon2id(NFC(passphrase)): NFC so a Korean passphrase typed on macOS (NFD)
    and on Linux (NFC) is the same passphrase."""
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Argon2id(
        salt=salt,
        length=32,
        iterations=kdf.iterations,
        lanes=kdf.lanes,
        memory_cost=kdf.memory_kib,
    ).derive(secret)


def _subkey(k: bytes, label: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, label).derive(k)


def tune_kdf(target_seconds: float = 0.5, *, max_memory_kib: int = MAX_MEMORY_KIB) -> KdfParams:
    """Argon2id parameters that take about ``target_seconds`` on this machine.

    A probe (32 MiB, one pass) estimates the speed; memory grows first (3 passes, up to
    ``max_memory_kib``, 256 MiB by default), then passes (up to 16). The candidate is
    timed once and corrected, since a single pass overstates the cost of first touching
    the memory. Never below 19 MiB with 2 passes, however small the target.
    """
    top = max(MIN_MEMORY_KIB, max_memory_kib)
    probe = KdfParams(memory_kib=_PROBE_MEMORY_KIB, iterations=1, lanes=_LANES)
    budget = target_seconds / _seconds(probe) * _PROBE_MEMORY_KIB  # KiB-passes affordable
    params = _fit(budget, top)
    if (params.memory_kib, params.iterations) != (top, MAX_ITERATIONS):
        params = _fit(budget * target_seconds / _seconds(params), top)
    return params


_LANES = 4


def _seconds(params: KdfParams) -> float:
    start = time.perf_counter()
    _derive("probe", os.urandom(16), params)
    return max(time.perf_counter() - start, 1e-6)


def _fit(budget: float, top: int) -> KdfParams:
    """Spend ``budget`` KiB-passes: 3 passes, memory in [19 MiB, top], then more passes."""
    iterations = 3
    memory = budget / iterations
    if memory < MIN_MEMORY_KIB:
        iterations = 2
        memory = budget / iterations
    elif memory > top:
        memory = top
        iterations = min(MAX_ITERATIONS, max(3, round(budget / top)))
    memory_kib = min(top, max(MIN_MEMORY_KIB, int(memory) // 1024 * 1024))
    return KdfParams(memory_kib=memory_kib, iterations=iterations, lanes=_LANES)


# -- the file -----------------------------------------------------------------------------


def _path(home: Path) -> Path:
    return home / KEYSTORE_FILE


def _aad(f: _File) -> bytes:
    return FILE_LABEL + msgspec.msgpack.encode(f.kdf) + f.salt


def _seal(
    k: bytes,
    keys: Keys,
    *,
    kdf: KdfParams,
    salt: bytes,
    max_attempts: int,
    duress: bytes,
) -> _File:
    unsealed = _File(
        v=1,
        kdf=kdf,
        salt=salt,
        max_attempts=max_attempts,
        failures=0,
        nonce=os.urandom(12),
        sealed=b"",
        duress=duress,
    )
    plain = msgspec.msgpack.encode(
        _Plain(device=keys.device_key.private_bytes_raw(), data=keys.data_key)
    )
    sealed = ChaCha20Poly1305(_subkey(k, WRAP_LABEL)).encrypt(unsealed.nonce, plain, _aad(unsealed))
    return msgspec.structs.replace(unsealed, sealed=sealed)


def _open_sealed(k: bytes, f: _File) -> Keys | None:
    try:
        plain = ChaCha20Poly1305(_subkey(k, WRAP_LABEL)).decrypt(f.nonce, f.sealed, _aad(f))
    except InvalidTag:
        return None
    p = msgspec.msgpack.decode(plain, type=_Plain)
    return Keys(Ed25519PrivateKey.from_private_bytes(p.device), p.data)


def _write(home: Path, f: _File) -> None:
    _atomic_write(_path(home), msgspec.msgpack.encode(f))


def _read(home: Path) -> _File:
    try:
        with _open_read(_path(home)) as fh:
            data = fh.read(MAX_KEYSTORE_BYTES + 1)
    except FileNotFoundError:
        raise KeystoreMissing(f"no keystore in {home}") from None
    except OSError as e:
        raise KeystoreError(
            f"cannot read the keystore ({e.strerror})",
            hint="check the kit's directory and its permissions",
        ) from None
    try:
        if len(data) > MAX_KEYSTORE_BYTES:
            raise ValueError
        return msgspec.msgpack.decode(data, type=_File)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        raise KeystoreCorrupt(
            "the keystore file is damaged or is not a sealsync keystore"
        ) from None


@contextmanager
def _keystore_op(home: Path, *, create_home: bool = False) -> Iterator[None]:
    """Hold the home directory's lock; turn file-system errors into KeystoreError."""
    try:
        if create_home:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(home):
            yield
    except FileNotFoundError:
        raise KeystoreMissing(f"no keystore in {home}") from None
    except OSError as e:
        raise KeystoreError(
            f"cannot use the kit's directory ({e.strerror or type(e).__name__})",
            hint="check free disk space and the directory's permissions",
        ) from None


def _check_kdf(kdf: KdfParams) -> KdfParams:
    try:
        checked = msgspec.convert(msgspec.to_builtins(kdf), KdfParams)
    except msgspec.ValidationError as e:
        raise KeystoreError(f"unusable Argon2id parameters ({e})") from None
    if checked.memory_kib < 8 * checked.lanes:
        raise KeystoreError("unusable Argon2id parameters (memory below 8 KiB per lane)")
    return checked


def _check_passphrase(passphrase: str, what: str = "passphrase") -> None:
    if not passphrase:
        raise KeystoreError(f"the {what} is empty", hint=f"choose a {what} of several words")


# -- public operations --------------------------------------------------------------------


def create(
    home: Path | str,
    passphrase: str,
    *,
    duress: str | None = None,
    max_attempts: int = 10,
    kdf: KdfParams | None = None,
) -> Keys:
    """Initialise a kit in ``home``: new device key and data key, sealed under ``passphrase``.

    ``duress``: an optional second passphrase that wipes the kit when entered at unlock.
    ``max_attempts``: wrong tries (1–100) before the kit wipes itself. ``kdf``: Argon2id
    parameters, :func:`tune_kdf` by default. :class:`KeystoreExists` if there is one.
    Leftovers of a wiped kit (undecryptable objects) are removed first.
    """
    home = Path(home)
    _check_passphrase(passphrase)
    if duress is not None:
        _check_passphrase(duress, "duress passphrase")
        if unicodedata.normalize("NFC", duress) == unicodedata.normalize("NFC", passphrase):
            raise KeystoreError(
                "the duress passphrase must differ from the passphrase",
                hint="choose a different duress passphrase",
            )
    if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise KeystoreError(
            f"max attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}",
            hint="10 is a reasonable choice",
        )
    kdf = _check_kdf(kdf) if kdf is not None else tune_kdf()
    with _keystore_op(home, create_home=True):
        if _path(home).exists():
            raise KeystoreExists(f"a keystore already exists in {home}")
        _wipe_contents(home)
        salt = os.urandom(16)
        k = _derive(passphrase, salt, kdf)
        # Duress or not, the file holds 32 bytes here that look the same.
        verifier = (
            _subkey(_derive(duress, salt, kdf), DURESS_LABEL)
            if duress is not None
            else os.urandom(32)
        )
        keys = Keys(Ed25519PrivateKey.generate(), os.urandom(32))
        _fresh_kit(home, k, keys, kdf=kdf, salt=salt, max_attempts=max_attempts, duress=verifier)
        return keys


def unlock(home: Path | str, passphrase: str) -> Keys:
    """Open the keystore.

    The right passphrase returns the keys (and resets the wrong-try counter). The duress
    passphrase wipes everything and returns a fresh empty kit's keys, with no sign of it.
    A wrong one raises :class:`PassphraseRejected` (counted on disk first), or, on the
    last allowed try, wipes the kit and raises :class:`KeystoreWiped`.
    """
    home = Path(home)
    with _keystore_op(home):
        f, k = _attempt(home, passphrase)
        keys = _open_sealed(k, f)
        is_duress = hmac.compare_digest(_subkey(k, DURESS_LABEL), f.duress)
        if keys is not None:
            _write(home, msgspec.structs.replace(f, failures=0))
            return keys
        if is_duress:
            _wipe_contents(home, strict=False)
            fresh = Keys(Ed25519PrivateKey.generate(), os.urandom(32))
            _fresh_kit(
                home,
                k,
                fresh,
                kdf=f.kdf,
                salt=f.salt,
                max_attempts=f.max_attempts,
                duress=os.urandom(32),
            )
            return fresh
        _rejected(home, f)


def change_passphrase(home: Path | str, old: str, new: str) -> None:
    """Re-seal the keys under ``new``. ``old`` is checked exactly as :func:`unlock` does
    (so a wrong one is counted, and the duress passphrase wipes).

    The salt and Argon2id parameters are kept, so a duress passphrase stays valid. The
    new passphrase must differ from the duress passphrase.
    """
    home = Path(home)
    _check_passphrase(new, "new passphrase")
    keys = unlock(home, old)
    with _keystore_op(home):
        f = _read(home)
        k_new = _derive(new, f.salt, f.kdf)
        if hmac.compare_digest(_subkey(k_new, DURESS_LABEL), f.duress):
            raise KeystoreError(
                "the new passphrase must differ from the duress passphrase",
                hint="choose another passphrase",
            )
        resealed = _seal(
            k_new,
            keys,
            kdf=f.kdf,
            salt=f.salt,
            max_attempts=f.max_attempts,
            duress=f.duress,
        )
        _write(home, resealed)


def wipe(home: Path | str) -> None:
    """Destroy the kit: the keystore first (overwritten, fsynced, unlinked), then every
    object; then ``home`` itself if nothing else is in it. No passphrase needed; nothing
    there is not an error. :class:`KeystoreError` if something could not be removed
    (the keys are gone by then, so what remains cannot be decrypted)."""
    home = Path(home)
    if not home.exists():
        return
    with _keystore_op(home):
        _wipe_contents(home)
    with suppress(OSError):
        home.rmdir()  # only if empty: never a directory the kit did not fill
        _fsync_dir(home.parent)


# -- internals ----------------------------------------------------------------------------


def _attempt(home: Path, passphrase: str) -> tuple[_File, bytes]:
    """Count the try on disk, then derive K. Wipes if the tries were already used up."""
    f = _read(home)
    if f.failures >= f.max_attempts:  # a last try was interrupted: it counted
        _wipe_contents(home, strict=False)
        raise KeystoreWiped()
    _write(home, msgspec.structs.replace(f, failures=f.failures + 1))
    return f, _derive(passphrase, f.salt, f.kdf)


def _rejected(home: Path, f: _File) -> NoReturn:
    tries_left = f.max_attempts - (f.failures + 1)
    if tries_left <= 0:
        _wipe_contents(home, strict=False)
        raise KeystoreWiped()
    raise PassphraseRejected(tries_left)


def _fresh_kit(
    home: Path,
    k: bytes,
    keys: Keys,
    *,
    kdf: KdfParams,
    salt: bytes,
    max_attempts: int,
    duress: bytes,
) -> None:
    (home / OBJECTS_DIR).mkdir(mode=0o700, exist_ok=True)
    os.utime(home / OBJECTS_DIR, (FIXED_TIME, FIXED_TIME))
    f = _seal(k, keys, kdf=kdf, salt=salt, max_attempts=max_attempts, duress=duress)
    _write(home, f)


def _wipe_contents(home: Path, *, strict: bool = True) -> None:
    """Keystore first, then objects and leftovers. The home directory stays, and so does
    anything in it, or in ``objects/``, that the kit did not name.

    ``strict=False`` (duress, too many tries): files that cannot be removed are left
    without a word; they are ciphertext under keys that no longer exist, and an error
    here would give the duress away."""
    shred(_path(home))
    for leftover in home.glob(f"{KEYSTORE_FILE}.*.tmp"):
        shred(leftover)
    _fsync_dir(home)
    failed = 0
    objects = home / OBJECTS_DIR
    if objects.is_dir():
        for entry in list(os.scandir(objects)):
            if not is_vault_file(entry.name):
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
            except OSError:
                failed += 1
        with suppress(OSError):
            objects.rmdir()  # only if empty
    if failed and strict:
        raise KeystoreError(
            f"the keys are destroyed, but {failed} file(s) in {objects} could not be removed",
            hint="what remains cannot be decrypted; remove the directory by hand",
        )
    os.utime(home, (FIXED_TIME, FIXED_TIME))
    _fsync_dir(home)
