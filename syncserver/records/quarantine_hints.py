"""What to do about a quarantined item, by its reason (``syncserver quarantine show``).

A quarantine reason is one of the sentences ingest writes (:mod:`syncserver.ingest`,
:mod:`syncserver.ingest._prepare`). Some causes can be fixed on the server, and releasing the
item then gets its records in; others are facts about the bundle as the device sent it,
and releasing it would only put it back in quarantine. :func:`hint_for` says which, what
it means, and the exact next command.
"""

from __future__ import annotations

import enum
import re

from schemas.errors import BundleReason

__all__ = ["Cause", "cause_of", "hint_for"]

_UNPUBLISHED = re.compile(r"form '(?P<form>[^']*)' v(?P<version>\d+) is not published")
_NOT_OPENED = "bundle could not be opened: "
_SERVER_FAULTS = ("internal error while ", "ran out of memory while ", "the ingest worker died ")


class Cause(enum.Enum):
    FORM_UNPUBLISHED = "the record's form version is not published"
    RECORD_INVALID = "the record does not satisfy its form"
    DEVICE_REVOKED = "the sealing device was revoked"
    DEVICE_EXPIRED = "the sealing device's certificate had expired"
    DEVICE_UNKNOWN = "the uploading device is not enrolled"
    OTHER_PROJECT = "the bundle is for another project"
    WRONG_SEALER = "another device sealed the bundle"
    WRONG_ID = "the bundle's id is not the one it was uploaded as"
    DOES_NOT_OPEN = "the bundle does not open"
    BLOB_UNREADABLE = "the server cannot read its copy of the bundle"
    SERVER_FAULT = "the server failed while ingesting the bundle"
    OTHER = "another cause"


def cause_of(reason: str) -> Cause:
    """The cause behind a quarantine ``reason`` as ingest writes it."""
    if _UNPUBLISHED.fullmatch(reason):
        return Cause.FORM_UNPUBLISHED
    if reason == "record does not satisfy its form":
        return Cause.RECORD_INVALID
    if reason == "the sealing device is revoked":
        return Cause.DEVICE_REVOKED
    if reason == "the sealing device's certificate had expired":
        return Cause.DEVICE_EXPIRED
    if reason == "the uploading device is not enrolled":
        return Cause.DEVICE_UNKNOWN
    if reason.startswith(_SERVER_FAULTS):
        return Cause.SERVER_FAULT
    if reason.startswith("the bundle was sealed by device "):
        return Cause.WRONG_SEALER
    if reason == "the bundle id in the header is not the id it was uploaded as":
        return Cause.WRONG_ID
    if reason.startswith(_NOT_OPENED):
        why = reason.removeprefix(_NOT_OPENED)
        if why == BundleReason.WRONG_PROJECT.value:
            return Cause.OTHER_PROJECT
        if why == BundleReason.WRONG_BUNDLE_ID.value:
            return Cause.WRONG_ID
        return Cause.DOES_NOT_OPEN
    if reason.startswith("the stored bundle "):
        return Cause.BLOB_UNREADABLE
    return Cause.OTHER


def hint_for(reason: str, item: int, dir_option: str) -> str:
    """The hint for quarantine item ``item`` quarantined for ``reason``; ``dir_option``
    is the ``--dir …`` to repeat in the commands it names."""
    release = f"`syncserver quarantine release {item} {dir_option}`"
    again = "releasing it would only quarantine it again"
    cause = cause_of(reason)
    if cause is Cause.FORM_UNPUBLISHED:
        m = _UNPUBLISHED.fullmatch(reason)
        assert m is not None
        return (
            f"publish form '{m['form']}' v{m['version']} "
            f"(`syncserver forms publish FILE {dir_option}`), then release the item: {release}"
        )
    if cause is Cause.RECORD_INVALID:
        return (
            "the record, as the device sealed it, breaks its form version (the problems"
            " above); a published form version never changes, so "
            f"{again}. Release it only after an upgrade of sealsync that changed how records"
            " are checked, or never: it stays here, nothing is lost. If the form is what is"
            " wrong, publish a corrected form as a new version for the interviews to come"
        )
    if cause is Cause.DEVICE_REVOKED:
        return (
            f"the device was revoked before this bundle arrived: {again}. Whoever held the"
            " device after its revocation may have sealed it, so its content is not"
            " trusted; it stays here as a record of what was sent (see"
            f" `syncserver devices list {dir_option}`)"
        )
    if cause is Cause.DEVICE_EXPIRED:
        return (
            "the device's certificate had expired when this bundle arrived (the check uses"
            f" the time of arrival): {again}, and this bundle cannot enter the data. It"
            " stays here as a record of what was sent; enroll the kit again"
            f" (`syncserver devices token --label NAME {dir_option}`) so that its next"
            " bundles are accepted"
        )
    if cause is Cause.DEVICE_UNKNOWN:
        return (
            f"the device that uploaded this bundle is not enrolled here: {again}. It stays"
            " here as a record of what was sent; look for the device with"
            f" `syncserver devices list {dir_option}`"
        )
    if cause is Cause.OTHER_PROJECT:
        return (
            "the bundle's header names another project: it was sealed for another server"
            f" (a kit enrolled elsewhere, or a copy sent here on purpose); {again}. It"
            " cannot be opened here and stays as a record of what was sent"
        )
    if cause is Cause.WRONG_SEALER:
        return (
            "one enrolled device uploaded a bundle that another one sealed (a copied bundle,"
            f" or a device key in the wrong hands): {again}. Find out how with the people"
            f" who hold both devices (`syncserver devices list {dir_option}`)"
        )
    if cause is Cause.WRONG_ID:
        return (
            "the bundle's header does not carry the id it was uploaded as (a device that"
            f" misbehaves, or an altered upload): {again}; it stays as a record of what was"
            " sent"
        )
    if cause is Cause.DOES_NOT_OPEN:
        return (
            "the stored bytes are those the device sent, and they do not open with this"
            " project's keys (damaged or altered on the way, or not sealed for this"
            f" project): {again}. It stays here as a record of what was sent"
        )
    if cause is Cause.SERVER_FAULT:
        return (
            "the server failed with this bundle, not the bundle with the server: the details"
            " are in the server's log. Once the cause is fixed (an upgrade of sealsync, more"
            f" memory), release the item to ingest the bundle again: {release}"
        )
    if cause is Cause.BLOB_UNREADABLE:
        return (
            "the server cannot read its own copy of the bundle: restore blobs/ from a backup"
            f" (or fix its permissions), then release the item: {release}"
        )
    return (
        "find the cause in the server's log; once it is fixed, release the item to ingest"
        f" its bundle again (what still fails comes back here): {release}"
    )
