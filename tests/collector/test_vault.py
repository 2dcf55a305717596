"""The vault: encrypted, padded, opaque, atomic objects (collector.vault)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import keystore as ks
from collector.errors import ObjectCorrupt, ObjectMissing, VaultError
from collector.vault import FIXED_TIME, HEADER_SIZE, MAX_ADDRESS, Vault, bucket_size

FAST = ks.KdfParams(memory_kib=1024, iterations=1, lanes=1)
KEY = bytes(range(32))
ANSWER = "ZQX-synthetic-answer-7741 남쪽 바다"  # synthetic, distinctive
SECRET_ID = "respondent-QPW-0042"
SECRET_KIND = "detention-episode"
REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def objects(home: Path) -> list[Path]:
    return sorted((home / "objects").iterdir())


def every_byte(home: Path) -> bytes:
    out = bytearray()
    for path in sorted(home.rglob("*")):
        out += path.name.encode() + b"\n"
        if path.is_file():
            out += path.read_bytes()
    return bytes(out)


def assert_nothing_readable(home: Path) -> None:
    blob = every_byte(home)
    for needle in (ANSWER, SECRET_ID, SECRET_KIND):
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert needle.encode(encoding) not in blob, (needle, encoding)


def add_object(home: Path, vault: Vault, kind: str, id: str, data: bytes) -> Path:
    """Put a new object and return its file (the index file changes too, so filter it)."""
    before = {p: p.read_bytes() for p in objects(home)}
    vault.put(kind, id, data)
    new = [p for p in objects(home) if p not in before]
    assert len(new) in (1, 2)  # the object, and the index when it is the first one
    for p in new:
        if vault.exists(kind, id) and _is(vault, p, kind, id):
            return p
    raise AssertionError("object file not found")


def _is(vault: Vault, path: Path, kind: str, id: str) -> bool:
    return path.name == vault._name(f"{kind}\x00{id}".encode())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kit"


@pytest.fixture
def vault(home: Path) -> Vault:
    return Vault(home, KEY)


# -- the API ---------------------------------------------------------------------------


def test_put_get_list_delete(vault: Vault, home: Path) -> None:
    vault.put("draft", "b", b"second")
    vault.put("draft", "a", b"first")
    vault.put("receipt", "a", b"other kind, same id")
    assert vault.get("draft", "a") == b"first"
    assert vault.get("receipt", "a") == b"other kind, same id"
    assert vault.list("draft") == ["a", "b"]
    assert vault.list("receipt") == ["a"]
    assert vault.list("bundle") == []
    assert vault.exists("draft", "a") and not vault.exists("bundle", "a")
    vault.put("draft", "a", b"replaced")
    assert vault.get("draft", "a") == b"replaced"
    assert vault.list("draft") == ["a", "b"]
    assert vault.delete("draft", "a") is True
    assert vault.delete("draft", "a") is False
    assert vault.list("draft") == ["b"]
    with pytest.raises(ObjectMissing):
        vault.get("draft", "a")
    # A new Vault on the same home sees the same objects.
    again = Vault(home, KEY)
    assert again.list("draft") == ["b"] and again.get("draft", "b") == b"second"


@pytest.mark.parametrize("size", [0, 1, 4000, 65535, 65536, 65537, 3 * 65536, 200_001])
def test_sizes_around_chunk_boundaries(vault: Vault, size: int) -> None:
    data = os.urandom(size)
    vault.put("blob", str(size), data)
    assert vault.get("blob", str(size)) == data
    with vault.open_stream("blob", str(size)) as stream:
        assert stream.size == size
        chunks = list(stream)
    assert b"".join(chunks) == data
    assert all(len(c) <= 65536 for c in chunks)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
    id=st.text(min_size=1, max_size=40),
    data=st.binary(max_size=9000),
)
def test_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, kind: str, id: str, data: bytes
) -> None:
    try:
        address_len = len(kind.encode()) + 1 + len(id.encode())
    except UnicodeEncodeError:
        return  # lone surrogates are rejected; see test_addresses_are_checked
    if address_len > MAX_ADDRESS:
        return
    home = tmp_path_factory.mktemp("prop")
    vault = Vault(home, KEY)
    vault.put(kind, id, data)
    assert vault.get(kind, id) == data
    assert vault.list(kind) == [id]
    assert Vault(home, KEY).get(kind, id) == data


def test_missing_object(vault: Vault) -> None:
    with pytest.raises(ObjectMissing) as info:
        vault.get("draft", SECRET_ID)
    e = info.value
    assert (e.kind, e.id) == ("draft", SECRET_ID)
    assert SECRET_ID not in str(e) and "draft" in str(e)
    with pytest.raises(ObjectMissing):
        vault.open_stream("draft", SECRET_ID)


def test_addresses_are_checked(vault: Vault) -> None:
    for kind, id in [("", "x"), ("a\x00b", "x"), ("draft", ""), ("draft", "\ud800")]:
        with pytest.raises(ValueError):
            vault.put(kind, id, b"")
    with pytest.raises(ValueError):
        vault.put("k", "x" * MAX_ADDRESS, b"")
    vault.put("k", "x" * (MAX_ADDRESS - 2), b"longest")  # k ‖ 0x00 ‖ id = 256 bytes
    assert vault.get("k", "x" * (MAX_ADDRESS - 2)) == b"longest"
    vault.put("a", "b\x00c", b"NUL in an id is fine")
    assert vault.list("a") == ["b\x00c"]


def test_wipe_all(vault: Vault, home: Path) -> None:
    for i in range(4):
        vault.put("draft", str(i), ANSWER.encode())
    vault.wipe_all()
    assert objects(home) == []
    assert vault.list("draft") == []
    vault.put("draft", "again", b"usable after")
    assert Vault(home, KEY).list("draft") == ["again"]


def test_repr_hides_the_key(vault: Vault) -> None:
    assert KEY.hex() not in repr(vault) and "Vault(" in repr(vault)


# -- nothing readable, nothing revealing -------------------------------------------------


def test_a_distinctive_answer_never_appears_on_disk(tmp_path: Path) -> None:
    home = tmp_path / "kit"
    keys = ks.create(home, "correct horse battery staple", kdf=FAST)
    vault = Vault(home, keys.data_key)
    assert_nothing_readable(home)
    vault.put(SECRET_KIND, SECRET_ID, f"answer: {ANSWER}".encode())
    assert_nothing_readable(home)
    vault.put(SECRET_KIND, SECRET_ID, f"changed: {ANSWER} {ANSWER}".encode("utf-16-le"))
    assert_nothing_readable(home)
    vault.put_stream("attachment", SECRET_ID, (ANSWER.encode() for _ in range(50_000)))
    assert_nothing_readable(home)
    Vault(home, keys.data_key)  # reopening reconciles
    assert_nothing_readable(home)
    vault.delete(SECRET_KIND, SECRET_ID)
    assert_nothing_readable(home)
    assert vault.get("attachment", SECRET_ID).startswith(ANSWER.encode())


def test_names_are_opaque(vault: Vault, home: Path) -> None:
    vault.put(SECRET_KIND, SECRET_ID, b"x")
    vault.put("draft", "d1", b"y")
    for path in objects(home):
        assert re.fullmatch(r"[0-9a-f]{32}", path.name), path.name
    other = Vault(home / "other", bytes(32))  # another key: other names
    other.put(SECRET_KIND, SECRET_ID, b"x")
    assert not {p.name for p in objects(home / "other")} & {p.name for p in objects(home)}


def test_sizes_within_a_bucket_are_equal(vault: Vault, home: Path) -> None:
    small = add_object(home, vault, "draft", "small", b"0123456789")
    large = add_object(home, vault, "draft", "large", os.urandom(3000))
    assert small.stat().st_size == large.stat().st_size == 4096
    grown = add_object(home, vault, "draft", "five-k", os.urandom(5000))
    assert grown.stat().st_size == 8192


def test_bucket_sizes() -> None:
    assert bucket_size(0) == bucket_size(4096) == 4096
    previous = 0
    for n in [*range(1, 70_000, 997), 10**6, 10**7, 10**8, 200 * MiB]:
        b = bucket_size(n)
        assert b >= n and b % 4096 == 0 and b >= previous
        assert b <= max(4096, n * 1.12 + 4096), n  # Padmé: at most ~12 % overhead
        previous = b
    # Few distinct sizes: 32 between 1 MiB and 2 MiB, 32 between 64 and 128 MiB.
    assert len({bucket_size(n) for n in range(MiB + 1, 2 * MiB + 1, 101)}) == 32
    assert len({bucket_size(n) for n in range(64 * MiB + 1, 128 * MiB + 1, 10_007)}) == 32


def test_times_are_fixed(vault: Vault, home: Path) -> None:
    vault.put("draft", "d1", b"first")
    vault.put("draft", "d1", b"second")
    vault.put_stream("attachment", "a1", [b"x" * 100_000])
    vault.put("draft", "d2", b"third")
    vault.delete("draft", "d2")
    directory = (home / "objects").stat()  # before listing it: listing sets its atime
    assert directory.st_mtime == directory.st_atime == FIXED_TIME
    for path in objects(home):
        st = path.stat()
        assert st.st_mtime == FIXED_TIME, path
        assert st.st_atime == FIXED_TIME, path
    assert vault.get("draft", "d1") == b"second"
    assert vault.list("draft") == ["d1"]
    if getattr(os, "O_NOATIME", 0):  # reading does not set atime either
        assert all(p.stat().st_atime == FIXED_TIME for p in objects(home))


def test_files_are_private(vault: Vault, home: Path) -> None:
    vault.put("draft", "d1", b"x")
    assert (home / "objects").stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in objects(home))


# -- tampering ---------------------------------------------------------------------------


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "where", ["salt", "header", "body", "tag", "truncate", "append", "shorten-padding"]
)
def test_tampering_is_detected(vault: Vault, home: Path, where: str) -> None:
    path = add_object(home, vault, "draft", "d1", b"an answer of thirty-one bytes!!")
    body_end = HEADER_SIZE + 31 + 16
    if where == "salt":
        flip(path, 3)
    elif where == "header":
        flip(path, 100)
    elif where == "body":
        flip(path, HEADER_SIZE + 5)
    elif where == "tag":
        flip(path, body_end - 1)
    elif where == "truncate":
        path.write_bytes(path.read_bytes()[: body_end - 1])
    elif where == "append":
        path.write_bytes(path.read_bytes() + b"\x00")
    else:
        path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ObjectCorrupt) as info:
        vault.get("draft", "d1")
    assert (info.value.kind, info.value.id) == ("draft", "d1")
    assert "d1" not in str(info.value)


def test_padding_carries_nothing(vault: Vault, home: Path) -> None:
    """The random padding is not authenticated: changing it changes nothing read."""
    path = add_object(home, vault, "draft", "d1", b"short")
    flip(path, 4000)
    assert vault.get("draft", "d1") == b"short"


def test_a_file_moved_to_another_name_is_rejected(vault: Vault, home: Path) -> None:
    a = add_object(home, vault, "draft", "a", b"answer for a")
    b = add_object(home, vault, "draft", "b", b"answer for b")
    b.write_bytes(a.read_bytes())
    with pytest.raises(ObjectCorrupt):
        vault.get("draft", "b")
    assert vault.get("draft", "a") == b"answer for a"


def test_a_damaged_stream_fails_while_iterating(vault: Vault, home: Path) -> None:
    data = os.urandom(5 * 65536)
    before = set(objects(home))
    vault.put_stream("attachment", "a1", [data])
    (path,) = [p for p in set(objects(home)) - before if _is(vault, p, "attachment", "a1")]
    flip(path, HEADER_SIZE + 3 * (65536 + 16) + 10)  # inside the fourth chunk
    stream = vault.open_stream("attachment", "a1")
    got = [next(stream), next(stream), next(stream)]
    assert b"".join(got) == data[: 3 * 65536]
    with pytest.raises(ObjectCorrupt):
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)


def test_a_stream_cut_at_a_chunk_boundary_is_rejected(vault: Vault, home: Path) -> None:
    vault.put_stream("attachment", "a1", [os.urandom(3 * 65536)])
    path = next(p for p in objects(home) if _is(vault, p, "attachment", "a1"))
    raw = path.read_bytes()
    # Keep the size bucket, but end the body after two full chunks: the length in the
    # header no longer matches what the STREAM holds.
    cut = raw[: HEADER_SIZE + 2 * (65536 + 16)]
    path.write_bytes(cut + os.urandom(len(raw) - len(cut)))
    with pytest.raises(ObjectCorrupt):
        vault.get("attachment", "a1")


def test_another_key_neither_reads_nor_destroys(vault: Vault, home: Path) -> None:
    vault.put("draft", "d1", b"kept")
    stranger = Vault(home, bytes(32))
    assert stranger.list("draft") == []
    with pytest.raises(ObjectMissing):
        stranger.get("draft", "d1")
    assert Vault(home, KEY).get("draft", "d1") == b"kept"


# -- crashes and reconciliation ----------------------------------------------------------


def test_a_failed_rename_leaves_the_old_object(
    vault: Vault, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.put("draft", "d1", b"old answer")
    vault.put("draft", "d0", b"other")
    listing = sorted(p.name for p in objects(home))

    def killed(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed)
        with pytest.raises(VaultError) as info:
            vault.put("draft", "d1", f"new {ANSWER}".encode())
        assert "Input/output error" in info.value.message
        with pytest.raises(VaultError):
            vault.put("draft", "d2", f"new {ANSWER}".encode())
    assert vault.get("draft", "d1") == b"old answer"
    assert sorted(p.name for p in objects(home)) == listing  # no temp file left
    assert vault.list("draft") == ["d0", "d1"]
    assert_nothing_readable(home)
    assert Vault(home, KEY).list("draft") == ["d0", "d1"]


def test_a_kill_after_the_temp_file_is_written_leaves_the_old_object(
    vault: Vault, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL between fsync and rename: the temp file stays behind, as after a real kill."""
    vault.put("draft", "d1", b"old answer")

    class Killed(BaseException):
        pass

    def killed(src: object, dst: object) -> None:
        raise Killed

    real_unlink = os.unlink
    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed)
        m.setattr(os, "unlink", lambda p: None)  # a killed process cleans nothing up
        with pytest.raises(Killed):
            vault.put("draft", "d1", f"new {ANSWER}".encode())
    assert os.unlink is real_unlink
    temps = [p for p in objects(home) if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].stat().st_size == 4096
    assert_nothing_readable(home)
    reopened = Vault(home, KEY)  # the next start removes it
    assert not [p for p in objects(home) if p.name.endswith(".tmp")]
    assert reopened.get("draft", "d1") == b"old answer"


def test_a_failing_source_leaves_the_old_object(vault: Vault, home: Path) -> None:
    vault.put_stream("attachment", "a1", [b"old" * 1000])
    names = sorted(p.name for p in objects(home))

    def chunks() -> Iterator[bytes]:
        yield b"new" * 100_000
        raise ConnectionResetError("microphone unplugged")

    with pytest.raises(ConnectionResetError, match="microphone"):
        vault.put_stream("attachment", "a1", chunks())
    with pytest.raises(ConnectionResetError):
        vault.put_stream("attachment", "a2", chunks())
    assert vault.get("attachment", "a1") == b"old" * 1000
    assert vault.list("attachment") == ["a1"]
    assert sorted(p.name for p in objects(home)) == names


def test_reopening_drops_index_entries_without_objects(vault: Vault, home: Path) -> None:
    vault.put("draft", "d1", b"one")
    vault.put("draft", "d2", b"two")
    # As if killed after the index entry was written and before the object was.
    (home / "objects" / vault._name(b"draft\x00d2")).unlink()
    assert vault.list("draft") == ["d1"]  # not listed, though still in this index
    assert vault._read_index()[0]["draft"] == {"d1", "d2"}
    assert Vault(home, KEY).list("draft") == ["d1"]
    assert vault._read_index()[0]["draft"] == {"d1"}  # reopening dropped the entry


def test_a_lost_or_damaged_index_is_rebuilt(vault: Vault, home: Path) -> None:
    for i in range(3):
        vault.put("draft", f"d{i}", b"x")
    vault.put("receipt", "r", b"y")
    index = home / "objects" / vault._name(b"\x00index")
    flip(index, HEADER_SIZE + 2)
    assert vault.list("draft") == ["d0", "d1", "d2"]  # rebuilt on the spot
    index.unlink()
    reopened = Vault(home, KEY)
    assert reopened.list("draft") == ["d0", "d1", "d2"] and reopened.list("receipt") == ["r"]


def test_reconciling_leaves_files_it_cannot_read(vault: Vault, home: Path) -> None:
    foreign = home / "objects" / ("ab" * 16)
    foreign.write_bytes(os.urandom(4096))
    other = home / "objects" / "notes.tmp"
    other.write_bytes(b"not a vault temp file")
    vault.put("draft", "d1", b"x")
    assert Vault(home, KEY).list("draft") == ["d1"]
    assert foreign.exists() and other.exists()
    vault.wipe_all()
    assert sorted(p.name for p in objects(home)) == ["notes.tmp"]


CHILD = r"""
import sys
from collector.vault import Vault
v = Vault(sys.argv[1], bytes.fromhex(sys.argv[2]))
i = 0
while True:
    i += 1
    body = b"version %d|" % i + bytes([i % 251]) * (i * 7919 % 150_000)
    v.put("draft", "d1", body)
    v.put_stream("attachment", "a1", (b"%08d" % i for _ in range(i * 613 % 40_000)))
    print(i, flush=True)
"""


def check_version(data: bytes) -> int:
    head, _, rest = data.partition(b"|")
    i = int(head.removeprefix(b"version "))
    assert rest == bytes([i % 251]) * (i * 7919 % 150_000)
    return i


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_any_moment_leaves_old_or_new(home: Path, seed: int) -> None:
    Vault(home, KEY)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), KEY.hex()],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert child.stdout is not None
    try:
        first = child.stdout.readline()
        assert first.strip() == b"1"
        time.sleep(random.Random(seed).uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    done = int((first + rest).split()[-1])
    vault = Vault(home, KEY)
    assert not [p for p in objects(home) if p.name.endswith(".tmp")]
    d = check_version(vault.get("draft", "d1"))
    assert done <= d <= done + 1
    a = b"".join(vault.open_stream("attachment", "a1"))
    if a:
        (n,) = {a[k : k + 8] for k in range(0, len(a), 8)}
        assert done <= int(n) <= done + 1 and len(a) == 8 * (int(n) * 613 % 40_000)
    assert vault.list("draft") == ["d1"] and vault.list("attachment") == ["a1"]


# -- streaming ---------------------------------------------------------------------------


def test_a_32_mib_stream_in_bounded_memory(vault: Vault) -> None:
    size = 32 * MiB
    piece = 64 * 1024

    def source() -> Iterator[bytes]:
        for i in range(size // piece):
            yield hashlib.sha256(i.to_bytes(8, "big")).digest() * (piece // 32)

    expected = hashlib.sha256()
    for chunk in source():
        expected.update(chunk)

    tracemalloc.start()
    try:
        vault.put_stream("attachment", "recording", source())
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = hashlib.sha256()
        n = 0
        with vault.open_stream("attachment", "recording") as stream:
            assert stream.size == size
            for chunk in stream:
                got.update(chunk)
                n += len(chunk)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == size and got.digest() == expected.digest()
    assert put_peak < 8 * MiB, put_peak
    assert get_peak < 8 * MiB, get_peak


def test_small_and_streamed_objects_share_one_format(vault: Vault) -> None:
    vault.put_stream("blob", "s", [b"ab", b"", b"cd"])
    assert vault.get("blob", "s") == b"abcd"
    vault.put("blob", "p", b"whole")
    assert b"".join(vault.open_stream("blob", "p")) == b"whole"
    vault.put_stream("blob", "empty", [])
    assert vault.get("blob", "empty") == b""
