"""Errors raised by :mod:`collector` (docs/collector-at-rest.md for the at-rest ones).

One tree, rooted at :class:`CollectorError`. Every error carries ``message`` (what went
wrong) and ``hint`` (what to do next); the CLI maps the root to exit code 1 and prints
both::

    CollectorError                 .message, .hint
     ├── KeystoreError             the keystore cannot be created, read or changed
     │    ├── PassphraseRejected   wrong passphrase; .tries_left before the kit wipes itself
     │    │    └── KeystoreWiped   that was the last try: keys and data have been wiped
     │    ├── KeystoreMissing      no keystore in this home: run `collector init`
     │    ├── KeystoreExists       `collector init` over an existing keystore
     │    └── KeystoreCorrupt      the keystore file is damaged or not a keystore
     ├── VaultError                the encrypted object store cannot be read or written
     │    ├── ObjectMissing        nothing stored under that kind and id
     │    └── ObjectCorrupt        an object failed authentication: damaged or altered
     ├── NotEnrolled               the device holds no certificate yet
     ├── UnknownId                 an id typed names no object, or several (listed)
     └── SyncFailed                an upload could not be finished now; the bundle stays
          └── SyncError            (collector.sync) one upload failed
               └── ServerUnavailable  the server cannot be reached or keeps failing:
                                      every bundle stays; try again later

Messages never carry a passphrase, a key, an answer or an object id (ids can be linked to
people): an :class:`ObjectMissing` or :class:`ObjectCorrupt` names the object's *kind* in
its message and keeps ``kind`` and ``id`` as attributes, for programs only. The one
exception is :class:`UnknownId`: it answers a person who typed an id, on their own
terminal, with the candidates as `collector drafts` already shows them to that person.
"""

from __future__ import annotations

__all__ = [
    "CollectorError",
    "KeystoreCorrupt",
    "KeystoreError",
    "KeystoreExists",
    "KeystoreMissing",
    "KeystoreWiped",
    "NotEnrolled",
    "ObjectCorrupt",
    "ObjectMissing",
    "PassphraseRejected",
    "SyncFailed",
    "UnknownId",
    "VaultError",
]


class CollectorError(Exception):
    """Root of every error raised by :mod:`collector`.

    ``str()`` is the message followed by a ``hint:`` line when there is a hint (as
    :class:`syncserver.errors.SyncServerError` does). Subclasses may set ``default_hint``.
    """

    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        super().__init__(message if self.hint is None else f"{message}\nhint: {self.hint}")


class KeystoreError(CollectorError):
    """The keystore cannot be created, read or changed."""


class PassphraseRejected(KeystoreError):
    """The passphrase did not open the keystore; ``tries_left`` before the kit wipes itself.

    The failure is already counted on disk when this is raised.
    """

    def __init__(self, tries_left: int, *, hint: str | None = None) -> None:
        self.tries_left = tries_left
        plural = "try" if tries_left == 1 else "tries"
        super().__init__(
            f"passphrase rejected ({tries_left} {plural} left)",
            hint=hint or "check the keyboard layout and Caps Lock, then try again",
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.tries_left,))


class KeystoreWiped(PassphraseRejected):
    """The last allowed passphrase try failed: the keys and all data have been wiped.

    A subclass of :class:`PassphraseRejected` (with ``tries_left == 0``), so code that
    handles a rejected passphrase handles this too.
    """

    def __init__(self) -> None:
        self.tries_left = 0
        KeystoreError.__init__(
            self,
            "passphrase rejected too many times: the keys and all data on this device "
            "have been wiped",
            hint="nothing can be recovered here; run `collector init` to start again",
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), ())


class KeystoreMissing(KeystoreError):
    """There is no keystore in this home directory."""

    default_hint = "run `collector init` to create a kit (or pass --home to choose another)"


class KeystoreExists(KeystoreError):
    """A keystore is already there; ``collector init`` will not overwrite it."""

    default_hint = (
        "unlock the existing kit, or run `collector wipe` first if you mean to start again"
    )


class KeystoreCorrupt(KeystoreError):
    """The keystore file is damaged or is not a sealsync keystore."""

    default_hint = (
        "restore the kit's keystore file from a copy if you have one; otherwise run "
        "`collector wipe --now` and `collector init` to start again"
    )


class VaultError(CollectorError):
    """The encrypted object store cannot be read or written."""


class ObjectMissing(VaultError):
    """Nothing is stored under this kind and id. ``kind`` and ``id`` are for programs."""

    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"no {kind!r} object with that id in the vault")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.kind, self.id))


class ObjectCorrupt(VaultError):
    """An object failed authentication: damaged on disk or altered. Never partly trusted."""

    default_hint = "the object cannot be used; if it mattered, it must be collected again"

    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"a {kind!r} object in the vault is damaged or was altered")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.kind, self.id))


class NotEnrolled(CollectorError):
    """The device holds no certificate yet, so it cannot seal or sync."""

    default_hint = (
        "run `collector enroll URL` (it asks for the one-time token), or "
        "`collector enroll --file FILE` offline"
    )

    def __init__(
        self, message: str = "this device is not enrolled", *, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)


class UnknownId(CollectorError):
    """An id (or a prefix of one) that a person typed names no object of that kind, or
    several; the message lists the candidates as the kit shows them (collector._ids)."""


class SyncFailed(CollectorError):
    """An upload could not be finished now; the bundle stays in the outbox."""

    default_hint = "nothing is lost: the bundles stay on the device; run `collector sync` again"
