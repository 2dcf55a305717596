from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncserver.errors import IdentityError, PassphraseRejected
from syncserver.project.keys import KdfParams, ProjectIdentity, Secret, load_identity, save_identity

FAST = KdfParams(memory_kib=1024, iterations=1, lanes=1)


def test_round_trip_with_passphrase(tmp_path: Path) -> None:
    ident = ProjectIdentity.generate()
    save_identity(tmp_path / "id", ident, Secret(passphrase="pass phrase 1"), kdf=FAST)
    back = load_identity(tmp_path / "id", Secret(passphrase="pass phrase 1"))
    assert back.project_id == ident.project_id
    assert back.recipient_public == ident.recipient_public
    assert back.signing_public_bytes() == ident.signing_public_bytes()
    assert oct((tmp_path / "id").stat().st_mode & 0o777) == "0o600"


def test_wrong_passphrase_is_one_clear_error(tmp_path: Path) -> None:
    save_identity(tmp_path / "id", ProjectIdentity.generate(), Secret(passphrase="right"), kdf=FAST)
    with pytest.raises(PassphraseRejected) as e:
        load_identity(tmp_path / "id", Secret(passphrase="wrong"))
    assert e.value.status == 401
    assert "wrong" not in str(e.value) and "right" not in str(e.value)


def test_key_file(tmp_path: Path) -> None:
    key = os.urandom(32)
    ident = ProjectIdentity.generate()
    save_identity(tmp_path / "id", ident, Secret(key_file=key))
    assert load_identity(tmp_path / "id", Secret(key_file=key)).project_id == ident.project_id
    with pytest.raises(PassphraseRejected, match="locked with a key file"):
        load_identity(tmp_path / "id", Secret(passphrase="x"))
    with pytest.raises(PassphraseRejected):
        load_identity(tmp_path / "id", Secret(key_file=os.urandom(32)))
    with pytest.raises(IdentityError, match="exactly 32 bytes"):
        Secret(key_file=b"short")


def test_the_file_holds_no_key_material(tmp_path: Path) -> None:
    ident = ProjectIdentity.generate()
    save_identity(tmp_path / "id", ident, Secret(passphrase="pp"), kdf=FAST)
    data = (tmp_path / "id").read_bytes()
    assert ident.recipient.private.private_bytes_raw() not in data
    assert ident.signing.private_bytes_raw() not in data


def test_damaged_and_missing_files(tmp_path: Path) -> None:
    save_identity(tmp_path / "id", ProjectIdentity.generate(), Secret(passphrase="pp"), kdf=FAST)
    data = bytearray((tmp_path / "id").read_bytes())
    data[-1] ^= 1
    (tmp_path / "id").write_bytes(bytes(data))
    with pytest.raises(PassphraseRejected):  # tampering is indistinguishable from a bad secret
        load_identity(tmp_path / "id", Secret(passphrase="pp"))
    (tmp_path / "id").write_bytes(b"garbage")
    with pytest.raises(IdentityError, match="damaged"):
        load_identity(tmp_path / "id", Secret(passphrase="pp"))
    with pytest.raises(IdentityError, match="cannot read"):
        load_identity(tmp_path / "nope", Secret(passphrase="pp"))


def test_reprs_hide_secrets() -> None:
    s = Secret(passphrase="hunter2 hunter2")
    assert "hunter2" not in repr(s)
    ident = ProjectIdentity.generate()
    assert ident.signing.private_bytes_raw().hex() not in repr(ident)
