"""Device seizure with the real passphrase (docs/threat-model.md): once sealed, an
interview cannot be read back from the kit, even by someone who unlocks it and
decrypts every object it holds."""

from __future__ import annotations

import io
from pathlib import Path

from security_helpers import FORM, NAME, NARRATIVE, answers, now
from support.uploader import enroll_file

from collector import keystore
from collector.kit import Kit
from collector.vault import Vault
from schemas.bundle import MemorySink, open_bundle
from schemas.wire import FormSet, PublishedFormDoc, sign_formset
from syncserver.project import Project

PASS = "a synthetic kit passphrase"
FAST = keystore.KdfParams(memory_kib=1024, iterations=1, lanes=1)
RECORDING = NAME.encode() * 20_000  # a recording in which the name is spoken


def every_object(home: Path, data_key: bytes) -> dict[tuple[str, str], bytes]:
    """Every object of the vault, decrypted with the kit's own data key; checks that no
    file in ``objects/`` is left out (the index included)."""
    vault = Vault(home, data_key)
    index = vault._load_index()
    out = {(k, i): vault.get(k, i) for k, ids in index.items() for i in ids}
    files = [p for p in (home / "objects").iterdir() if p.is_file()]
    assert len(files) == len(out) + 1  # and the index itself
    return out


def test_after_sealing_the_kit_holds_no_readable_answer(project: Project, tmp_path: Path) -> None:
    home = tmp_path / "kit"
    keys = keystore.create(home, PASS, kdf=FAST)
    kit = Kit(Vault(home, keys.data_key), keys.device_key)
    resp = enroll_file(project, kit.enrollment_request("laptop-7"), now=now())
    kit.accept_enrollment(resp, "http://127.0.0.1:9")
    docs = project.store.read_sync(lambda tx: tx.forms.all())
    formset = FormSet(
        issued_at=now(),
        forms=[
            PublishedFormDoc(
                form_id=f.form_id, version=f.version, digest=f.digest, document=f.document
            )
            for f in docs
        ],
    )
    kit.accept_forms(sign_formset(formset, project.identity.signing))
    d = kit.new_draft(kit.form(FORM.id), "ko")
    d.answers = answers(3)
    recording = tmp_path / "recording.ogg"
    recording.write_bytes(RECORDING)
    kit.attach(d, str(recording))
    recording.unlink()
    kit.finalize(d)
    needles = [NAME.encode(), NAME.encode("utf-16-le"), NARRATIVE.encode()]

    def readable() -> list[tuple[str, str]]:
        unlocked = keystore.unlock(home, PASS)  # the real passphrase, given up
        objects = every_object(home, unlocked.data_key)
        return [addr for addr, data in objects.items() if any(n in data for n in needles)]

    assert {k for k, _ in readable()} == {"final", "attachment"}  # before: readable
    [bundle_id] = kit.seal()
    assert readable() == []  # after: not in any object, decrypted with the kit's keys

    # The kit holds only the project's public keys; the bundle opens with the private one.
    ident = project.identity
    objects = every_object(home, keystore.unlock(home, PASS).data_key)
    assert not any(ident.recipient.private.private_bytes_raw() in v for v in objects.values())
    [entry] = kit.outbox()
    sink = MemorySink()
    opened = open_bundle(
        io.BytesIO(objects[("outbox", entry.slot)]),
        recipient=ident.recipient,
        device_keys=lambda _id: keys.device_key.public_key(),
        sink=sink,
    )
    assert opened.header.bundle_id == bundle_id
    assert opened.records[0].answers["respondent_name"] == NAME
    assert list(sink.files.values()) == [RECORDING]


def test_the_keystore_holds_no_key_and_no_passphrase_in_clear(tmp_path: Path) -> None:
    """What a powered-off seizure copies: the keystore's bytes hold neither key nor the
    passphrases, only their Argon2id-sealed form."""
    home = tmp_path / "kit"
    duress = "a synthetic duress passphrase"
    keys = keystore.create(home, PASS, duress=duress, kdf=FAST)
    data = (home / "keystore").read_bytes()
    for secret in (
        keys.data_key,
        keys.device_key.private_bytes_raw(),
        PASS.encode(),
        duress.encode(),
    ):
        assert secret not in data
