"""Errors raised by :mod:`schemas` (docs/spec/bundle-v1.md §10, survey-language.md §8, §10).

One tree, rooted at :class:`SchemaError`::

    SchemaError
     ├── FormInvalid          a form definition (TOML, YAML, XLSForm) has problems;
     │                        ``.problems`` lists every one of them with its path
     ├── ResponseInvalid      a response breaks its form; ``.problems`` lists them all
     └── BundleError
          ├── BundleInvalid   a bundle cannot be opened: one opaque error for every cause
          └── SealError       a bundle cannot be sealed (bad input on the sealing side)

Messages never carry an answer, a key or a passphrase: a problem names the *path* of the
offending field and what rule it broke, not the value. :class:`BundleInvalid` is opaque
on purpose (like Fernet's ``InvalidToken``): ``str()`` and ``repr()`` say only that the
bundle could not be opened; the precise cause is on ``.reason`` for the server's private
log and the quarantine record, and must never be sent to the uploader.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = [
    "BundleError",
    "BundleInvalid",
    "BundleReason",
    "FormInvalid",
    "Problem",
    "ResponseInvalid",
    "SchemaError",
    "SealError",
]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with a form or a response.

    ``path`` locates it (``$.items[3].relevant`` in a form, ``$.detention[0].year`` in a
    response, ``survey!E12`` in an XLSForm); ``code`` is stable for programs; ``message``
    is for people and never contains the offending value; ``text`` carries the form's own
    bilingual constraint message, for the interview screen.
    """

    path: str
    code: str
    message: str
    #: The form's own bilingual message for a broken constraint, by language.
    text: dict[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SchemaError(Exception):
    """Root of every error raised by :mod:`schemas`."""


class _ProblemsError(SchemaError):
    what = "input"

    def __init__(self, problems: list[Problem], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._summary())

    def _summary(self) -> str:
        n = len(self.problems)
        where = f" in {self.source}" if self.source else ""
        head = f"{self.what}{where} has {n} problem{'s' if n != 1 else ''}"
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  … and {n - 50} more" if n > 50 else ""
        return f"{head}:\n{shown}{more}"


class FormInvalid(_ProblemsError):
    """A form definition cannot be used; ``.problems`` holds every problem found."""

    what = "form"


class ResponseInvalid(_ProblemsError):
    """A response does not satisfy its form; ``.problems`` holds every problem found."""

    what = "response"


class BundleError(SchemaError):
    """Root of bundle sealing and opening errors."""


class SealError(BundleError):
    """The sealing side was given something it cannot seal (says what, never a secret)."""


class BundleReason(enum.Enum):
    """Why a bundle failed to open: for the server's private log and quarantine only."""

    MALFORMED_HEADER = "malformed header"
    UNSUPPORTED_VERSION = "unsupported version line"
    NON_CANONICAL_HEADER = "non-canonical header"
    OVERSIZED_HEADER = "oversized header"
    WRONG_RECIPIENT = "no stanza for this recipient"
    STANZA_INVALID = "recipient stanza failed to open"
    HEADER_MAC = "header MAC mismatch"
    TRUNCATED = "payload truncated"
    CHUNK_INVALID = "payload chunk failed authentication"
    TRAILING_DATA = "data after the final chunk"
    EMPTY_FINAL_CHUNK = "empty final chunk"
    MANIFEST_INVALID = "manifest malformed or non-canonical"
    UNKNOWN_DEVICE = "device unknown to the opener"
    SIGNATURE_INVALID = "signature does not verify with the device key"
    MANIFEST_MISMATCH = "manifest disagrees with payload"
    RECORD_INVALID = "record malformed"
    LIMIT_EXCEEDED = "size or count limit exceeded"
    PAYLOAD_TRAILING = "plaintext after the last attachment"


class BundleInvalid(BundleError):
    """The bundle cannot be opened. Opaque: the cause is on ``.reason`` only."""

    def __init__(self, reason: BundleReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail  # private: names offsets and counts, never plaintext
        super().__init__("bundle could not be opened")

    def __repr__(self) -> str:
        return "BundleInvalid()"

    def __reduce__(self) -> tuple[object, ...]:
        return (BundleInvalid, (self.reason, self.detail))
