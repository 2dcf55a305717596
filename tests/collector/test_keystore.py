"""The field kit's keystore: passphrase, wrong-try counter, duress, wipe (collector.keystore)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from collector import keystore as ks
from collector.errors import (
    CollectorError,
    KeystoreCorrupt,
    KeystoreError,
    KeystoreExists,
    KeystoreMissing,
    KeystoreWiped,
    PassphraseRejected,
)
from collector.vault import FIXED_TIME, Vault

# Cheap Argon2id for tests (1 MiB, one pass); production uses tune_kdf().
FAST = ks.KdfParams(memory_kib=1024, iterations=1, lanes=1)
PASS = "correct horse battery staple"
DURESS = "rainy tuesday in the south"
WRONG = "not the passphrase"
ANSWER = "ZQX-synthetic-answer-7741 남쪽 바다"  # synthetic, distinctive
REPO = Path(__file__).resolve().parents[2]


def every_byte(home: Path) -> bytes:
    """All file names and contents under ``home``, concatenated."""
    out = bytearray()
    for path in sorted(home.rglob("*")):
        out += path.name.encode() + b"\n"
        if path.is_file():
            out += path.read_bytes()
    return bytes(out)


def rejected(home: Path, passphrase: str = WRONG) -> PassphraseRejected:
    with pytest.raises(PassphraseRejected) as info:
        ks.unlock(home, passphrase)
    return info.value


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kit"


def test_create_then_unlock_returns_the_same_keys(home: Path) -> None:
    keys = ks.create(home, PASS, kdf=FAST)
    again = ks.unlock(home, PASS)
    assert again.data_key == keys.data_key and len(keys.data_key) == 32
    assert again.device_key.private_bytes_raw() == keys.device_key.private_bytes_raw()
    assert ks.exists(home)
    assert stat.S_IMODE((home / "keystore").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "objects").is_dir()
    assert sorted(p.name for p in home.iterdir()) == ["keystore", "objects"]


def test_keystore_times_are_fixed(home: Path) -> None:
    ks.create(home, PASS, kdf=FAST)
    ks.unlock(home, PASS)
    rejected(home)
    for path in (home / "keystore", home, home / "objects"):
        assert path.stat().st_mtime == FIXED_TIME, path


def test_wrong_passphrase_counts_down_with_exact_messages(home: Path) -> None:
    ks.create(home, PASS, max_attempts=4, kdf=FAST)
    seen = [rejected(home) for _ in range(3)]
    assert [e.message for e in seen] == [
        "passphrase rejected (3 tries left)",
        "passphrase rejected (2 tries left)",
        "passphrase rejected (1 try left)",
    ]
    assert [e.tries_left for e in seen] == [3, 2, 1]
    for e in seen:
        assert isinstance(e, KeystoreError) and isinstance(e, CollectorError)
        assert not isinstance(e, KeystoreWiped)
        assert e.hint and WRONG not in str(e) and PASS not in str(e)
        assert str(e) == f"{e.message}\nhint: {e.hint}"
    assert ks.unlock(home, PASS)  # the fourth try is still allowed


def test_right_passphrase_resets_the_counter(home: Path) -> None:
    ks.create(home, PASS, max_attempts=3, kdf=FAST)
    assert rejected(home).tries_left == 2
    ks.unlock(home, PASS)
    assert rejected(home).tries_left == 2


def test_counter_persists_across_restarts(home: Path) -> None:
    ks.create(home, PASS, max_attempts=5, kdf=FAST)
    assert rejected(home).tries_left == 4
    child = (
        "import sys\n"
        "from collector import keystore\n"
        "from collector.errors import PassphraseRejected\n"
        "try:\n"
        "    keystore.unlock(sys.argv[1], sys.argv[2])\n"
        "except PassphraseRejected as e:\n"
        "    print(e.tries_left)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", child, str(home), WRONG],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert out.stdout.strip() == "3"
    assert rejected(home).tries_left == 2


class Killed(BaseException):
    """Stands in for SIGKILL arriving while Argon2id runs."""


def test_a_try_interrupted_during_the_kdf_still_counts(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks.create(home, PASS, max_attempts=5, kdf=FAST)

    def killed(*args: object) -> bytes:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(ks, "_derive", killed)
        with pytest.raises(Killed):
            ks.unlock(home, PASS)  # even the right passphrase: the try was spent
    assert rejected(home).tries_left == 3


def test_max_attempts_wipes_the_kit(home: Path) -> None:
    keys = ks.create(home, PASS, max_attempts=2, kdf=FAST)
    Vault(home, keys.data_key).put("draft", "d1", ANSWER.encode())
    assert rejected(home).tries_left == 1
    with pytest.raises(KeystoreWiped) as info:
        ks.unlock(home, WRONG)
    e = info.value
    assert isinstance(e, PassphraseRejected) and e.tries_left == 0
    assert "wiped" in e.message and "collector init" in (e.hint or "")
    assert not (home / "keystore").exists()
    assert list(home.rglob("*")) == []
    with pytest.raises(KeystoreMissing):
        ks.unlock(home, PASS)
    ks.create(home, PASS, kdf=FAST)  # the home can start again


def test_an_interrupted_last_try_wipes_at_the_next_unlock(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks.create(home, PASS, max_attempts=2, kdf=FAST)
    rejected(home)

    def killed(*args: object) -> bytes:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(ks, "_derive", killed)
        with pytest.raises(Killed):
            ks.unlock(home, PASS)
    with pytest.raises(KeystoreWiped):
        ks.unlock(home, PASS)
    assert not (home / "keystore").exists()


def test_duress_wipes_silently_and_opens_an_empty_kit(home: Path) -> None:
    keys = ks.create(home, PASS, duress=DURESS, max_attempts=5, kdf=FAST)
    vault = Vault(home, keys.data_key)
    vault.put("draft", "d1", ANSWER.encode())
    vault.put_stream("attachment", "a1", [ANSWER.encode()] * 100)
    old_names = {p.name for p in (home / "objects").iterdir()}

    fresh = ks.unlock(home, DURESS)  # no exception, no sign

    assert fresh.data_key != keys.data_key
    assert fresh.device_key.private_bytes_raw() != keys.device_key.private_bytes_raw()
    assert sorted(p.name for p in home.iterdir()) == ["keystore", "objects"]
    assert not {p.name for p in (home / "objects").iterdir()} & old_names
    assert list((home / "objects").iterdir()) == []
    assert ANSWER.encode() not in every_byte(home)
    new_vault = Vault(home, fresh.data_key)
    assert new_vault.list("draft") == [] and new_vault.list("attachment") == []
    # From now on the kit opens with the duress passphrase, like any fresh kit …
    again = ks.unlock(home, DURESS)
    assert again.data_key == fresh.data_key
    # … the old passphrase is just a wrong one, with a full counter …
    assert rejected(home, PASS).tries_left == 4
    # … and a second duress entry is an ordinary unlock, not another wipe.
    new_vault.put("draft", "d2", b"new")
    assert Vault(home, ks.unlock(home, DURESS).data_key).get("draft", "d2") == b"new"


def test_the_file_does_not_show_whether_a_duress_passphrase_exists(tmp_path: Path) -> None:
    with_duress = tmp_path / "a"
    without = tmp_path / "b"
    ks.create(with_duress, PASS, duress=DURESS, kdf=FAST)
    ks.create(without, PASS, kdf=FAST)
    a = (with_duress / "keystore").read_bytes()
    b = (without / "keystore").read_bytes()
    assert len(a) == len(b)
    da, db = msgspec.msgpack.decode(a), msgspec.msgpack.decode(b)
    assert da.keys() == db.keys()
    assert {k: type(v) for k, v in da.items()} == {k: type(v) for k, v in db.items()}
    assert len(da["duress"]) == len(db["duress"]) == 32
    assert da["kdf"] == db["kdf"]
    assert rejected(with_duress).message == rejected(without).message


def test_duress_must_differ_from_the_passphrase(home: Path) -> None:
    with pytest.raises(KeystoreError, match="must differ"):
        ks.create(home, PASS, duress=PASS, kdf=FAST)
    nfd = unicodedata.normalize("NFD", "남쪽")
    with pytest.raises(KeystoreError, match="must differ"):
        ks.create(home, "남쪽", duress=nfd, kdf=FAST)
    assert not ks.exists(home)


def test_passphrases_are_compared_after_nfc(home: Path) -> None:
    """A Korean passphrase typed on macOS (NFD) opens a kit made on Linux (NFC)."""
    nfc = unicodedata.normalize("NFC", "바다 건너 남쪽으로")
    keys = ks.create(home, nfc, kdf=FAST)
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert ks.unlock(home, nfd).data_key == keys.data_key


def test_change_passphrase(home: Path) -> None:
    keys = ks.create(home, PASS, duress=DURESS, max_attempts=5, kdf=FAST)
    ks.change_passphrase(home, PASS, "a new passphrase")
    assert rejected(home, PASS).tries_left == 4
    same = ks.unlock(home, "a new passphrase")
    assert same.data_key == keys.data_key
    assert same.device_key.private_bytes_raw() == keys.device_key.private_bytes_raw()
    # The duress passphrase survives the change.
    assert ks.unlock(home, DURESS).data_key != keys.data_key


def test_change_passphrase_checks_the_old_one_and_the_new_one(home: Path) -> None:
    keys = ks.create(home, PASS, duress=DURESS, max_attempts=5, kdf=FAST)
    with pytest.raises(PassphraseRejected) as info:
        ks.change_passphrase(home, WRONG, "whatever")
    assert info.value.tries_left == 4
    with pytest.raises(KeystoreError, match="differ from the duress"):
        ks.change_passphrase(home, PASS, DURESS)
    with pytest.raises(KeystoreError, match="empty"):
        ks.change_passphrase(home, PASS, "")
    assert ks.unlock(home, PASS).data_key == keys.data_key


def test_wipe_removes_everything(home: Path) -> None:
    keys = ks.create(home, PASS, kdf=FAST)
    vault = Vault(home, keys.data_key)
    for i in range(5):
        vault.put("draft", f"d{i}", ANSWER.encode())
    ks.wipe(home)
    assert not home.exists()
    ks.wipe(home)  # nothing there: not an error
    with pytest.raises(KeystoreMissing) as info:
        ks.unlock(home, PASS)
    assert "collector init" in (info.value.hint or "")


def test_wipe_leaves_files_the_kit_did_not_make(home: Path) -> None:
    keys = ks.create(home, PASS, kdf=FAST)
    Vault(home, keys.data_key).put("draft", "d1", ANSWER.encode())
    (home / "notes.txt").write_text("not ours")
    (home / "objects" / "photo.jpg").write_text("not ours either")
    ks.wipe(home)
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == [
        "notes.txt",
        "objects",
        "objects/photo.jpg",
    ]


def test_concurrent_wrong_tries_are_each_counted(home: Path) -> None:
    ks.create(home, PASS, max_attempts=10, kdf=FAST)
    with ThreadPoolExecutor(4) as pool:
        errors = list(pool.map(lambda _: rejected(home), range(4)))
    assert sorted(e.tries_left for e in errors) == [6, 7, 8, 9]


def test_wipe_overwrites_the_keystore_before_unlinking_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks.create(home, PASS, kdf=FAST)
    before = (home / "keystore").read_bytes()
    at_unlink: dict[str, bytes] = {}
    real_unlink = os.unlink

    def spy(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if Path(path).name == "keystore":
            at_unlink["keystore"] = Path(path).read_bytes()
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", spy)
    ks.wipe(home)
    assert len(at_unlink["keystore"]) == len(before)
    assert at_unlink["keystore"] != before
    assert not home.exists()


def test_reprs_hide_secrets(home: Path) -> None:
    keys = ks.create(home, PASS, kdf=FAST)
    for text in (repr(keys), str(keys)):
        assert text == "Keys(device_key=<hidden>, data_key=<hidden>)"
        assert keys.data_key.hex() not in text
        assert keys.device_key.private_bytes_raw().hex() not in text
    assert PASS not in repr(ks.KdfParams())


def test_missing_existing_and_damaged_keystores(home: Path) -> None:
    with pytest.raises(KeystoreMissing):
        ks.unlock(home, PASS)
    assert not home.exists()  # unlock never creates a home
    ks.create(home, PASS, kdf=FAST)
    with pytest.raises(KeystoreExists) as info:
        ks.create(home, PASS, kdf=FAST)
    assert "wipe" in (info.value.hint or "")
    (home / "keystore").write_bytes(b"\x93not a keystore")
    with pytest.raises(KeystoreCorrupt):
        ks.unlock(home, PASS)


def test_create_validates_its_arguments(home: Path) -> None:
    with pytest.raises(KeystoreError, match="empty"):
        ks.create(home, "", kdf=FAST)
    with pytest.raises(KeystoreError, match="between 1 and 100"):
        ks.create(home, PASS, max_attempts=0, kdf=FAST)
    with pytest.raises(KeystoreError, match="between 1 and 100"):
        ks.create(home, PASS, max_attempts=101, kdf=FAST)
    with pytest.raises(KeystoreError, match="Argon2id"):
        ks.create(home, PASS, kdf=ks.KdfParams(memory_kib=1024, iterations=0, lanes=1))
    assert not ks.exists(home)


def test_create_removes_the_leftovers_of_a_wiped_kit(home: Path) -> None:
    old = ks.create(home, PASS, kdf=FAST)
    Vault(home, old.data_key).put("draft", "d1", ANSWER.encode())
    (home / "keystore").unlink()  # as if a wipe was cut off after the keys went
    new = ks.create(home, PASS, kdf=FAST)
    assert list((home / "objects").iterdir()) == []
    assert Vault(home, new.data_key).list("draft") == []


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ks.HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert ks.default_home() == tmp_path / "xdg" / "sealsync"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert ks.default_home() == tmp_path / "me" / ".local" / "share" / "sealsync"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert ks.default_home() == tmp_path / "me" / ".local" / "share" / "sealsync"
    monkeypatch.setenv(ks.HOME_ENV, str(tmp_path / "chosen"))
    assert ks.default_home() == tmp_path / "chosen"


def test_tune_kdf_is_bounded_and_usable(home: Path) -> None:
    params = ks.tune_kdf(target_seconds=0.001)
    assert params.memory_kib == ks.MIN_MEMORY_KIB and params.iterations == 2
    big = ks.tune_kdf(target_seconds=1000.0, max_memory_kib=64 * 1024)
    assert big.memory_kib == 64 * 1024 and big.iterations == ks.MAX_ITERATIONS
    keys = ks.create(home, PASS, kdf=params)
    assert ks.unlock(home, PASS).data_key == keys.data_key


def test_duress_stays_silent_when_a_file_resists(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = ks.create(home, PASS, duress=DURESS, kdf=FAST)
    Vault(home, keys.data_key).put("draft", "d1", ANSWER.encode())
    real_unlink = os.unlink

    def stubborn(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if len(Path(path).name) == 32:
            raise PermissionError(1, "Operation not permitted")
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", stubborn)
    fresh = ks.unlock(home, DURESS)  # no error: an error would give the duress away
    assert fresh.data_key != keys.data_key
    assert Vault(home, fresh.data_key).list("draft") == []
    with pytest.raises(KeystoreError) as info:
        ks.wipe(home)  # an explicit wipe says what it could not remove
    assert info.value.message.startswith("the keys are destroyed, but")
    assert not (home / "keystore").exists()
