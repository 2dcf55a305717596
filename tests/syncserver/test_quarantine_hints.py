"""`syncserver quarantine show`: the hint fits the reason, and says the truth about what
releasing the item would do (each such claim is checked by releasing it)."""

from __future__ import annotations

import datetime
import io
import uuid
from pathlib import Path

import pytest
from admin_cli_helpers import FORM, SHIPPED, Admin, make_admin, now, valid_answers
from support.bundles import make_record

from schemas.bundle import DeviceKey, seal_bundle
from schemas.errors import BundleReason
from syncserver.records.quarantine_hints import Cause, cause_of, hint_for
from syncserver.records.review import list_quarantine

AGAIN = "releasing it would only quarantine it again"


@pytest.fixture
def admin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Admin:
    return make_admin(tmp_path, capsys)


def items(admin: Admin) -> list[tuple[int, str]]:
    project = admin.open()
    try:
        return [(q.id, q.reason) for q in list_quarantine(project)]
    finally:
        project.close()


def show(admin: Admin, item: int) -> str:
    """The hint line of `quarantine show ITEM`."""
    out = admin.ok("quarantine", "show", str(item))
    [hint] = [line for line in out.splitlines() if line.startswith("hint: ")]
    return hint


def release(admin: Admin, item: int) -> str:
    return admin.ok("quarantine", "release", str(item))


def assert_back(admin: Admin, item: int) -> None:
    """Releasing ``item`` puts its whole bundle back in quarantine, as the hint said."""
    [line, hint] = release(admin, item).splitlines()
    assert f"released item {item}: bundle " in line
    assert f"is back in quarantine as a whole (item {item + 1}): " in line
    assert hint == f"hint: see `syncserver quarantine show {item + 1} --dir {admin.dir}`"


def test_form_not_published_publish_then_release(admin: Admin) -> None:
    dkey, dev = admin.enroll_file()
    data, _ = admin.seal(dkey, dev, valid_answers())
    admin.deliver(data, dev)
    [(item, reason)] = items(admin)
    assert reason == "form 'escapee-interview' v1 is not published"
    d = f"--dir {admin.dir}"
    assert show(admin, item) == (
        "hint: publish form 'escapee-interview' v1 (`syncserver forms publish FILE "
        f"{d}`), then release the item: `syncserver quarantine release {item} {d}`"
    )
    admin.ok("forms", "publish", str(SHIPPED))
    assert "1 accepted, 0 back in quarantine" in release(admin, item)


def test_a_record_that_breaks_its_form_would_come_back(admin: Admin) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    data, _ = admin.seal(dkey, dev, {"consent": "not-a-choice"})
    admin.deliver(data, dev)
    [(item, reason)] = items(admin)
    assert reason == "record does not satisfy its form"
    out = admin.ok("quarantine", "show", str(item))
    assert "  - $.consent" in out  # the problems, then the hint
    hint = show(admin, item)
    assert AGAIN in hint and "a published form version never changes" in hint
    assert "Release it only after an upgrade of sealsync" in hint and "or never" in hint
    assert release(admin, item).splitlines()[1:] == [
        f"hint: see `syncserver quarantine list --dir {admin.dir}`"
    ]  # 0 accepted, 1 back in quarantine


def test_a_revoked_device_s_bundle_would_come_back(admin: Admin) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    admin.ok("devices", "revoke", str(dev), "--reason", "lost at a checkpoint")
    data, _ = admin.seal(dkey, dev, valid_answers())
    admin.deliver(data, dev, at=now() + datetime.timedelta(minutes=1))
    [(item, reason)] = items(admin)
    assert reason == "the sealing device is revoked"
    hint = show(admin, item)
    assert hint.startswith(f"hint: the device was revoked before this bundle arrived: {AGAIN}.")
    assert "its content is not trusted" in hint
    assert_back(admin, item)


def test_an_expired_device_s_bundle_would_come_back(admin: Admin) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    data, _ = admin.seal(dkey, dev, valid_answers())
    admin.deliver(data, dev, at=now() + datetime.timedelta(days=400))  # certificates: 365
    [(item, reason)] = items(admin)
    assert reason == "the sealing device's certificate had expired"
    hint = show(admin, item)
    assert hint.startswith("hint: the device's certificate had expired when this bundle arrived")
    assert f"{AGAIN}, and this bundle cannot enter the data" in hint
    assert f"`syncserver devices token --label NAME --dir {admin.dir}`" in hint
    assert_back(admin, item)


def test_a_bundle_that_does_not_open_would_come_back(admin: Admin) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    data, _ = admin.seal(dkey, dev, valid_answers())
    damaged = data[:-10] + bytes([data[-10] ^ 1]) + data[-9:]
    admin.deliver(damaged, dev)
    [(item, reason)] = items(admin)
    assert reason.startswith("bundle could not be opened: ")
    hint = show(admin, item)
    assert hint.startswith("hint: the stored bytes are those the device sent")
    assert AGAIN in hint
    assert_back(admin, item)


def test_every_reason_ingest_writes_has_its_own_hint() -> None:
    d = "--dir /srv/p"
    cases = {
        "form 'f' v3 is not published": Cause.FORM_UNPUBLISHED,
        "record does not satisfy its form": Cause.RECORD_INVALID,
        "the sealing device is revoked": Cause.DEVICE_REVOKED,
        "the sealing device's certificate had expired": Cause.DEVICE_EXPIRED,
        "the uploading device is not enrolled": Cause.DEVICE_UNKNOWN,
        f"bundle could not be opened: {BundleReason.WRONG_PROJECT.value}": Cause.OTHER_PROJECT,
        f"bundle could not be opened: {BundleReason.WRONG_BUNDLE_ID.value}": Cause.WRONG_ID,
        "the bundle id in the header is not the id it was uploaded as": Cause.WRONG_ID,
        f"bundle could not be opened: {BundleReason.HEADER_MAC.value}": Cause.DOES_NOT_OPEN,
        f"the bundle was sealed by device {uuid.uuid4()}, not by the device that uploaded it"
        f" ({uuid.uuid4()})": Cause.WRONG_SEALER,
        "the stored bundle is missing (ab12 in blobs/)": Cause.BLOB_UNREADABLE,
        "the stored bundle cannot be read (Permission denied)": Cause.BLOB_UNREADABLE,
        "internal error while merging the bundle (KeyError at ingest.py:9): report it": (
            Cause.SERVER_FAULT
        ),
        "ran out of memory while opening the bundle": Cause.SERVER_FAULT,
        "the ingest worker died while opening this bundle (out of memory, or a crash)": (
            Cause.SERVER_FAULT
        ),
        "something new": Cause.OTHER,
    }
    hints = set()
    for reason, cause in cases.items():
        assert cause_of(reason) is cause, reason
        hint = hint_for(reason, 7, d)
        hints.add(hint)
        release = "`syncserver quarantine release 7 --dir /srv/p`"
        # a hint either names the release command (the cause can be fixed here) or says
        # that releasing would bring the item back: never both, never neither
        assert (release in hint) != (AGAIN in hint), reason
        if cause in (Cause.FORM_UNPUBLISHED, Cause.BLOB_UNREADABLE, Cause.SERVER_FAULT):
            assert release in hint
        if cause is Cause.FORM_UNPUBLISHED:
            assert hint.startswith("publish form 'f' v3 (`syncserver forms publish FILE")
    assert len(hints) == len(set(cases.values()))  # one hint per cause, each its own


def test_a_bundle_for_another_project_would_come_back(admin: Admin) -> None:
    admin.ok("forms", "publish", str(SHIPPED))
    dkey, dev = admin.enroll_file()
    project = admin.open()
    try:
        buf = io.BytesIO()
        seal_bundle(
            buf,
            records=[make_record(FORM, valid_answers())],
            device=DeviceKey(dev, dkey),
            recipients=[project.identity.recipient_public],
            project_id=uuid.uuid4(),  # another project's
            device_seq=1,
            prev_bundle_sha256=bytes(32),
        )
    finally:
        project.close()
    admin.deliver(buf.getvalue(), dev)
    [(item, reason)] = items(admin)
    assert reason == f"bundle could not be opened: {BundleReason.WRONG_PROJECT.value}"
    hint = show(admin, item)
    assert hint.startswith("hint: the bundle's header names another project")
    assert AGAIN in hint
    assert_back(admin, item)
