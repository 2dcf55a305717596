"""The vault: the field kit's encrypted object store (docs/collector-at-rest.md §3–§5).

Everything the kit keeps (drafts, finalized responses, bundles, receipts, forms, its own
index) is an *object* addressed by ``(kind, id)`` and stored in one flat directory,
``HOME/objects/``. Nothing there is plaintext, and what a file system shows gives away
as little as we can make it:

* **Names.** A file is named by the first 32 hex digits of
  HMAC-SHA256(name key, kind ‖ 0x00 ‖ id); the name key comes from the data key by
  HKDF. Without the data key a name says nothing about its kind or id.
* **Contents.** Every object, small or large, has one format::

      salt (32) ‖ header (283, AEAD) ‖ STREAM body ‖ random padding

  The per-object keys are HKDF-SHA256(data key, salt, "…object") split in two: a header
  key and a STREAM key (``schemas.bundle``'s STREAM: 64 KiB ChaCha20-Poly1305 chunks,
  counter nonces, last-chunk flag). The header holds a version, the plaintext length and
  the address ``kind ‖ 0x00 ‖ id`` padded to 256 bytes; reading checks that the address
  in the header is the one asked for, so a file moved to another name fails. A fresh
  salt for every write means a nonce is never reused.
* **Sizes.** The file is padded with random bytes to a bucket: 4 KiB for everything up
  to 4 KiB, above that the Padmé size (at most ~12 % overhead, leaks O(log log n) bits
  of the size) rounded up to a multiple of 4 KiB. Random padding is indistinguishable
  from ciphertext, so the end of the data does not show.
* **Times.** mtime and atime of every object and of the directory are set to
  :data:`FIXED_TIME` (1980-01-01T00:00:00Z) after each change; reads open files with
  ``O_NOATIME`` where the system has it. ctime cannot be set by a program and does show
  when something last changed.

**Atomicity.** An object is written to ``<random>.tmp`` in the same directory, fsynced,
renamed over the old one, and the directory fsynced: a SIGKILL at any moment leaves the
old object or the new one, never a torn one. Leftover ``.tmp`` files hold only
ciphertext and are overwritten and removed the next time a vault is opened.

**Index.** Names are opaque, so ``list(kind)`` reads an index object (itself an encrypted
vault object at a reserved address). A new object is entered in the index *before* it is
written; an object is removed *before* its index entry. So a crash can only leave an
index entry whose file is missing, which :class:`Vault` drops when it opens. Objects
also name their own address in their header, so a lost or damaged index is rebuilt from
the objects, and an object missing from the index is adopted. A file that does not
authenticate is never deleted by reconciliation (a wrong key must not destroy data).

The durable file steps at the bottom are shared with :mod:`collector.keystore`.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import struct
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from hashlib import sha256
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.bundle import CHUNK_SIZE, TAG_SIZE, StreamReader, StreamWriter
from schemas.errors import BundleInvalid

from .errors import ObjectCorrupt, ObjectMissing, VaultError

__all__ = [
    "FIXED_TIME",
    "MAX_ADDRESS",
    "OBJECTS_DIR",
    "ObjectStream",
    "Vault",
    "bucket_size",
    "shred",
    "is_vault_file",
]

OBJECTS_DIR = "objects"
#: 1980-01-01T00:00:00Z: every object's mtime and atime (the earliest time a ZIP holds).
FIXED_TIME = 315532800
#: The longest address, ``kind ‖ 0x00 ‖ id`` in UTF-8.
MAX_ADDRESS = 256
MIN_BUCKET = 4096

NAMES_LABEL = b"sealsync/v1 collector vault names"
OBJECT_LABEL = b"sealsync/v1 collector vault object"
HEADER_LABEL = b"sealsync/v1 collector vault header"
HEADER_VERSION = 1
SALT_SIZE = 32
_HEADER_PLAIN = struct.Struct(">BQH")  # version, plaintext length, address length
HEADER_SIZE = SALT_SIZE + _HEADER_PLAIN.size + MAX_ADDRESS + TAG_SIZE
_ZERO_NONCE = bytes(12)
_INDEX_ADDRESS = b"\x00index"  # the empty kind: no caller can name it
_NAME_LEN = 32
#: What the vault names its files: objects, and temporary files (only ever ciphertext).
OBJECT_NAME = re.compile(r"[0-9a-f]{32}")
TEMP_NAME = re.compile(r"[0-9a-f]{32}\.tmp")


def is_vault_file(name: str) -> bool:
    """Whether a file name in ``objects/`` is one the vault makes (others are left alone)."""
    return OBJECT_NAME.fullmatch(name) is not None or TEMP_NAME.fullmatch(name) is not None


def bucket_size(n: int) -> int:
    """The padded file size for ``n`` bytes: 4 KiB, or Padmé(n) rounded up to 4 KiB."""
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    e = n.bit_length() - 1  # floor(log2 n)
    s = e.bit_length()  # floor(log2 e) + 1
    mask = (1 << (e - s)) - 1
    padme = (n + mask) & ~mask
    return -(-padme // MIN_BUCKET) * MIN_BUCKET


def _body_size(length: int) -> int:
    """Bytes of STREAM ciphertext for ``length`` bytes of plaintext."""
    chunks = max(1, -(-length // CHUNK_SIZE))
    return length + chunks * TAG_SIZE


def _address(kind: str, id: str) -> bytes:
    if not isinstance(kind, str) or not isinstance(id, str):
        raise TypeError("kind and id must be str")
    if not kind or "\x00" in kind:
        raise ValueError("kind must be a non-empty string without NUL")
    if not id:
        raise ValueError("id must be a non-empty string")
    try:
        addr = kind.encode("utf-8") + b"\x00" + id.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("kind and id must be valid Unicode text") from None
    if len(addr) > MAX_ADDRESS:
        raise ValueError(f"kind and id together must fit in {MAX_ADDRESS - 1} bytes of UTF-8")
    return addr


def _split(addr: bytes) -> tuple[str, str]:
    kind, _, id = addr.partition(b"\x00")
    return kind.decode("utf-8"), id.decode("utf-8")


class _SourceFailed(Exception):
    """The caller's chunk iterable raised: pass its exception through unchanged."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Window:
    """A read-only view of the next ``n`` bytes of a file (the STREAM body only)."""

    def __init__(self, f: BinaryIO, n: int) -> None:
        self._f = f
        self._left = n

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        self._left -= len(data)
        return data


class ObjectStream(Iterator[bytes]):
    """The plaintext of one object, chunk by chunk (at most 64 KiB each).

    Each chunk is authenticated before it is returned, but truncation is only known at
    the end: if iteration raises :class:`ObjectCorrupt`, discard what was read. ``size``
    is the plaintext length. Close it (or use ``with``) when stopping early.
    """

    def __init__(self, f: BinaryIO, reader: StreamReader, size: int, kind: str, id: str) -> None:
        self._f: BinaryIO | None = f
        self._reader = reader
        self.size = size
        self._left = size
        self._kind = kind
        self._id = id

    def __iter__(self) -> ObjectStream:
        return self

    def __next__(self) -> bytes:
        if self._f is None:
            raise StopIteration
        try:
            if self._left == 0:
                self._reader.finish()
                self.close()
                raise StopIteration
            take = min(CHUNK_SIZE, self._left)
            data = self._reader.read(take)
        except BundleInvalid:
            self.close()
            raise ObjectCorrupt(self._kind, self._id) from None
        except OSError as e:
            self.close()
            raise _read_error(e) from None
        self._left -= take
        return data

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _write_error(e: OSError) -> VaultError:
    return VaultError(
        f"cannot write to the vault ({e.strerror or type(e).__name__})",
        hint="check free disk space and permissions; what was saved before is intact",
    )


def _read_error(e: OSError) -> VaultError:
    return VaultError(
        f"cannot read the vault ({e.strerror or type(e).__name__})",
        hint="check the kit's directory and its permissions",
    )


class Vault:
    """Encrypted objects under ``HOME/objects/``, keyed by the kit's 32-byte data key.

    Opening reconciles the directory with the index (see the module docstring). Every
    public method raises only :class:`~collector.errors.VaultError` subclasses (and
    ``ValueError``/``TypeError`` for a malformed kind or id; and whatever the caller's
    own chunk iterable raises, unchanged).
    """

    def __init__(self, home: Path | str, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise ValueError("the data key must be 32 bytes")
        self._dir = Path(home) / OBJECTS_DIR
        self._data_key = bytes(data_key)
        self._name_key = HKDF(hashes.SHA256(), 32, None, NAMES_LABEL).derive(self._data_key)
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with _locked(self._dir):
                self._reconcile(strict=False)  # a full disk must not lock the data away
        except OSError as e:
            raise _write_error(e) from None

    def __repr__(self) -> str:
        return f"Vault({str(self._dir.parent)!r})"

    # -- public API ------------------------------------------------------------------

    def put(self, kind: str, id: str, data: bytes) -> None:
        """Store ``data`` under ``(kind, id)``, replacing any object there, atomically."""
        self.put_stream(kind, id, (data,))

    def put_stream(self, kind: str, id: str, chunks: Iterable[bytes]) -> None:
        """Store the concatenation of ``chunks``, atomically, in bounded memory.

        Memory is one 64 KiB chunk plus the largest chunk given. If ``chunks`` raises,
        its exception propagates unchanged and the old object (if any) is intact.
        """
        addr = _address(kind, id)
        try:
            with _locked(self._dir):
                index = self._load_index()
                added = id not in index.get(kind, set())
                if added:
                    index.setdefault(kind, set()).add(id)
                    self._write_index(index)
                try:
                    self._write_object(addr, chunks)
                except BaseException:
                    if added:
                        with suppress(Exception):
                            index[kind].discard(id)
                            self._write_index(index)
                    raise
        except _SourceFailed as s:
            raise s.error from None
        except OSError as e:
            raise _write_error(e) from None

    def get(self, kind: str, id: str) -> bytes:
        """The whole object; :class:`ObjectMissing` or :class:`ObjectCorrupt`."""
        with self.open_stream(kind, id) as stream:
            return b"".join(stream)

    def open_stream(self, kind: str, id: str) -> ObjectStream:
        """The object as an iterator of chunks, in bounded memory (see :class:`ObjectStream`).

        :class:`ObjectMissing` and a damaged header are raised here; a damaged body while
        iterating.
        """
        return self._open(_address(kind, id))

    def exists(self, kind: str, id: str) -> bool:
        """Whether an object is stored under ``(kind, id)`` (its content is not checked)."""
        return (self._dir / self._name(_address(kind, id))).is_file()

    def list(self, kind: str) -> list[str]:
        """The ids stored under ``kind``, sorted.

        Only objects whose file is there: an index entry whose object a crash or a full
        disk kept from being written (or whose removal it kept from being recorded) is
        not listed, even before reconciliation has dropped it from the index."""
        _address(kind, "x")
        try:
            index, damaged = self._read_index()
            if damaged:
                with _locked(self._dir):
                    index = self._reconcile(strict=False)
            return sorted(id for id in index.get(kind, ()) if self._object_file(_address(kind, id)))
        except OSError as e:
            raise _read_error(e) from None

    def delete(self, kind: str, id: str) -> bool:
        """Overwrite and remove an object; ``False`` if there was none (not an error).

        Works on a full disk: once the object is gone, failing to record that in the
        index is not an error (the entry is not listed, and reconciliation drops it)."""
        addr = _address(kind, id)
        try:
            with _locked(self._dir):
                existed = self._remove(self._name(addr))
                try:
                    index = self._load_index()
                    if id in index.get(kind, set()):
                        index[kind].discard(id)
                        self._write_index(index)
                except OSError:
                    pass
                return existed
        except OSError as e:
            raise _write_error(e) from None

    def wipe_all(self) -> None:
        """Overwrite and remove every object, the index included. The vault stays usable.

        Files in ``objects/`` that the vault did not name are left alone."""
        try:
            with _locked(self._dir):
                for entry in list(os.scandir(self._dir)):
                    if entry.is_file(follow_symlinks=False) and is_vault_file(entry.name):
                        shred(Path(entry.path))
                self._sync_dir()
        except OSError as e:
            raise _write_error(e) from None

    # -- objects ---------------------------------------------------------------------

    def _name(self, addr: bytes) -> str:
        return hmac.new(self._name_key, addr, sha256).hexdigest()[:_NAME_LEN]

    def _object_file(self, addr: bytes) -> bool:
        return os.path.isfile(self._dir / self._name(addr))

    def _object_keys(self, salt: bytes) -> tuple[bytes, bytes]:
        okm = HKDF(hashes.SHA256(), 64, salt, OBJECT_LABEL).derive(self._data_key)
        return okm[:32], okm[32:]

    def _header(self, salt: bytes, header_key: bytes, length: int, addr: bytes) -> bytes:
        plain = _HEADER_PLAIN.pack(HEADER_VERSION, length, len(addr)) + addr.ljust(
            MAX_ADDRESS, b"\x00"
        )
        return salt + ChaCha20Poly1305(header_key).encrypt(_ZERO_NONCE, plain, HEADER_LABEL)

    def _parse_header(self, head: bytes) -> tuple[bytes, int, bytes] | None:
        """(stream key, plaintext length, address), or None if it does not authenticate."""
        if len(head) != HEADER_SIZE:
            return None
        header_key, stream_key = self._object_keys(head[:SALT_SIZE])
        try:
            plain = ChaCha20Poly1305(header_key).decrypt(
                _ZERO_NONCE, head[SALT_SIZE:], HEADER_LABEL
            )
        except InvalidTag:
            return None
        version, length, alen = _HEADER_PLAIN.unpack_from(plain)
        addr = plain[_HEADER_PLAIN.size : _HEADER_PLAIN.size + alen]
        if version != HEADER_VERSION or alen > MAX_ADDRESS or b"\x00" not in addr:
            return None
        return stream_key, length, addr

    def _write_object(self, addr: bytes, chunks: Iterable[bytes]) -> None:
        salt = os.urandom(SALT_SIZE)
        header_key, stream_key = self._object_keys(salt)
        tmp = self._dir / f"{secrets.token_hex(_NAME_LEN // 2)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with open(fd, "wb") as f:
                f.write(bytes(HEADER_SIZE))  # placeholder: the length is known at the end
                writer = StreamWriter(f, stream_key)
                length = 0
                for chunk in _source(chunks):
                    writer.write(chunk)
                    length += len(chunk)
                writer.close()
                used = HEADER_SIZE + _body_size(length)
                _write_random(f, bucket_size(used) - used)
                f.seek(0)
                f.write(self._header(salt, header_key, length, addr))
                f.flush()
                os.utime(tmp, (FIXED_TIME, FIXED_TIME))
                os.fsync(f.fileno())
            os.replace(tmp, self._dir / self._name(addr))
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        self._sync_dir()

    def _open(self, addr: bytes) -> ObjectStream:
        kind, id = _split(addr)
        try:
            f = _open_read(self._dir / self._name(addr))
        except FileNotFoundError:
            raise ObjectMissing(kind, id) from None
        except OSError as e:
            raise _read_error(e) from None
        try:
            size = os.fstat(f.fileno()).st_size
            parsed = self._parse_header(f.read(HEADER_SIZE))
            if parsed is None or parsed[2] != addr:
                raise ObjectCorrupt(kind, id)
            stream_key, length, _ = parsed
            body = _body_size(length)
            if size != bucket_size(HEADER_SIZE + body):
                raise ObjectCorrupt(kind, id)
            reader = StreamReader(cast(BinaryIO, _Window(f, body)), stream_key)
        except BaseException as e:
            f.close()
            if isinstance(e, OSError):
                raise _read_error(e) from None
            raise
        return ObjectStream(f, reader, length, kind, id)

    def _remove(self, name: str) -> bool:
        """Take an object off its name atomically, then overwrite and unlink it."""
        doomed = self._dir / f"{secrets.token_hex(_NAME_LEN // 2)}.tmp"
        try:
            os.replace(self._dir / name, doomed)
        except FileNotFoundError:
            return False
        shred(doomed)
        self._sync_dir()
        return True

    def _sync_dir(self) -> None:
        os.utime(self._dir, (FIXED_TIME, FIXED_TIME))
        _fsync_dir(self._dir)

    # -- index -----------------------------------------------------------------------

    def _read_index(self) -> tuple[dict[str, set[str]], bool]:
        """The index, and whether it was damaged (then it is returned empty)."""
        try:
            with self._open(_INDEX_ADDRESS) as stream:
                raw = b"".join(stream)
            decoded = msgspec.msgpack.decode(raw, type=dict[str, list[str]])
        except ObjectMissing:
            return {}, False
        except (ObjectCorrupt, msgspec.DecodeError, msgspec.ValidationError):
            return {}, True
        return {kind: set(ids) for kind, ids in decoded.items()}, False

    def _load_index(self) -> dict[str, set[str]]:
        """The index, rebuilt first if it is damaged (the caller holds the lock)."""
        index, damaged = self._read_index()
        if damaged:
            index = self._reconcile()
        return index

    def _write_index(self, index: dict[str, set[str]]) -> None:
        plain = {kind: sorted(ids) for kind, ids in sorted(index.items()) if ids}
        self._write_object(_INDEX_ADDRESS, (msgspec.msgpack.encode(plain),))

    def _reconcile(self, *, strict: bool = True) -> dict[str, set[str]]:
        """Make the index and the directory agree (the caller holds the lock); return it.

        Not ``strict``: if the reconciled index cannot be written (a full or read-only
        disk), it is still returned, and the old one stays on disk: :meth:`list` does not
        show entries without a file, and the next reconciliation tries again."""
        files: set[str] = set()
        temps: list[Path] = []
        for entry in os.scandir(self._dir):
            if not entry.is_file(follow_symlinks=False):
                continue
            if TEMP_NAME.fullmatch(entry.name):
                temps.append(Path(entry.path))
            elif OBJECT_NAME.fullmatch(entry.name):
                files.add(entry.name)
        for tmp in temps:
            shred(tmp)
        index, changed = self._read_index()
        known = {self._name(_INDEX_ADDRESS)}
        for kind, ids in index.items():
            for id in list(ids):
                name = self._name(_address(kind, id))
                if name in files:
                    known.add(name)
                else:  # entered before a write that never happened
                    ids.discard(id)
                    changed = True
        for name in sorted(files - known):  # index lost or damaged: adopt what authenticates
            addr = self._peek_address(name)
            if addr is not None and addr != _INDEX_ADDRESS and self._name(addr) == name:
                kind, id = _split(addr)
                index.setdefault(kind, set()).add(id)
                changed = True
        if changed:
            try:
                self._write_index(index)
            except OSError:
                if strict:
                    raise
        if temps or changed:
            self._sync_dir()
        else:
            os.utime(self._dir, (FIXED_TIME, FIXED_TIME))  # listing may have set atime
        return index

    def _peek_address(self, name: str) -> bytes | None:
        try:
            with _open_read(self._dir / name) as f:
                parsed = self._parse_header(f.read(HEADER_SIZE))
        except OSError:
            return None
        return None if parsed is None else parsed[2]


def _source(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Iterate the caller's chunks, marking their exceptions so they pass through as-is."""
    it = iter(chunks)
    while True:
        try:
            chunk = next(it)
        except StopIteration:
            return
        except Exception as e:
            raise _SourceFailed(e) from e
        yield chunk


# -- durable file steps (shared with collector.keystore) ----------------------------------

_O_NOATIME: int = getattr(os, "O_NOATIME", 0)

if sys.platform == "win32":  # pragma: no cover - the kit runs on Linux and macOS

    @contextmanager
    def _locked(directory: Path) -> Iterator[None]:
        yield

    def hold(directory: Path) -> bool:
        return True

    def release_held() -> None:
        pass

    def _fsync_dir(path: Path) -> None:
        pass

else:
    import fcntl

    #: Directories this process holds for a whole command (:func:`hold`).
    _HELD: dict[str, int] = {}

    def hold(directory: Path) -> bool:
        """Lock ``directory`` for this process until :func:`release_held`: one command at
        a time per kit (collector.cli). False if another process holds it. While held,
        :func:`_locked` on it passes through: the process already excludes the others,
        and must not wait for its own lock."""
        key = os.path.realpath(directory)
        if key in _HELD:
            return True
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        _HELD[key] = fd
        return True

    def release_held() -> None:
        while _HELD:
            os.close(_HELD.popitem()[1])  # closing releases the lock

    @contextmanager
    def _locked(directory: Path) -> Iterator[None]:
        """An exclusive lock on a directory (flock), between processes and threads."""
        if os.path.realpath(directory) in _HELD:
            yield
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _fsync_dir(path: Path) -> None:
        """fsync a directory, so that a rename or unlink in it survives a crash."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _open_read(path: Path) -> BinaryIO:
    """Open for reading without updating atime where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOATIME)
    except PermissionError:  # O_NOATIME needs ownership: fall back
        if not _O_NOATIME:
            raise
        fd = os.open(path, os.O_RDONLY)
    return open(fd, "rb")


def _write_random(f: BinaryIO, n: int) -> None:
    while n > 0:
        take = min(n, CHUNK_SIZE)
        f.write(os.urandom(take))
        n -= take


def shred(path: Path) -> None:
    """Overwrite a file's bytes with random data, fsync, and unlink it (gone: no error).

    On SSDs, copy-on-write and journaling file systems the old blocks may survive
    elsewhere; see docs/collector-at-rest.md §6. The guarantee the kit relies on is that
    everything but the keystore is ciphertext under keys kept only in the keystore.
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        left = os.fstat(fd).st_size
        while left > 0:
            buf = memoryview(os.urandom(min(left, CHUNK_SIZE)))
            while buf:
                written = os.write(fd, buf)
                buf = buf[written:]
                left -= written
        os.fsync(fd)
    finally:
        os.close(fd)
    with suppress(FileNotFoundError):
        os.unlink(path)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` atomically (0600): temp file, fsync, fixed times, rename, fsync dir."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.utime(tmp, (FIXED_TIME, FIXED_TIME))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    os.utime(path.parent, (FIXED_TIME, FIXED_TIME))
    _fsync_dir(path.parent)
