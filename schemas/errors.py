"""Errors raised by :mod:`schemas` (docs/spec/bundle-v1.md §10, survey-language.md §8, §10,
audit-log-v1.md §10).

One tree, rooted at :class:`SchemaError`::

    SchemaError
     ├── FormInvalid          a form definition (TOML, YAML, XLSForm) has problems;
     │                        ``.problems`` lists every one of them with its path
     ├── ResponseInvalid      a response breaks its form; ``.problems`` lists them all
     ├── BundleError
     │    ├── BundleInvalid   a bundle cannot be opened: one opaque error for every cause
     │    └── SealError       a bundle cannot be sealed (bad input on the sealing side)
     ├── CertificateInvalid   a device certificate does not verify; ``.reason`` says why
     ├── ReceiptInvalid       a receipt does not verify: keep the bundle; ``.reason`` says why
     ├── IdentityInputError   a name or province cannot be normalised; ``.code`` says why
     └── TlogError            the audit log does not check out (audit-log-v1.md §10)
          ├── LogProofInvalid     an inclusion or consistency proof does not verify
          ├── VerifierKeyInvalid  a verifier key string is malformed or inconsistent
          └── NoteInvalid         a signed note is malformed, non-canonical or unsigned;
               │                  ``.reason`` (a NoteReason) names the rule it broke
               └── CheckpointInvalid   the same, for a note that must be a checkpoint

Messages never carry an answer, a key or a passphrase: a problem names the *path* of the
offending field and what rule it broke, not the value. :class:`BundleInvalid` is opaque
on purpose (like Fernet's ``InvalidToken``): ``str()`` and ``repr()`` say only that the
bundle could not be opened; the precise cause is on ``.reason`` for the server's private
log and the quarantine record, and must never be sent to the uploader.

The audit-log errors are not opaque: the log is public to those who verify it, and an
auditor needs to know *what* failed (which proof, which rule of the note format).
"""

from __future__ import annotations

import enum

import msgspec

from .text import shown

__all__ = [
    "BundleError",
    "BundleInvalid",
    "BundleReason",
    "CertificateInvalid",
    "ReceiptInvalid",
    "CheckpointInvalid",
    "FormInvalid",
    "LogProofInvalid",
    "NoteInvalid",
    "NoteReason",
    "Problem",
    "ResponseInvalid",
    "SchemaError",
    "SealError",
    "TlogError",
    "VerifierKeyInvalid",
]


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing wrong with a form or a response.

    ``path`` locates it (``$.items[3].relevant`` in a form, ``$.detention[0].year`` in a
    response, ``survey!E12 (relevant)`` in an XLSForm); ``code`` is stable for programs;
    ``message`` is for people and never contains the offending value; ``text`` carries
    the form's own bilingual constraint message, for the interview screen.

    A problem in a form file also says where a person finds it (survey-language.md §10):
    ``item`` names the question or group it is in (or the choice list, for a problem in
    one), ``line`` is its line in a TOML or YAML file, ``sheet`` and ``row`` its place in
    an XLSForm workbook. ``str()`` shows them beside the path, with every control or
    format character escaped, so a form cannot write to the terminal that prints it::

        $.items[3].items[10].items[2].required (item 'bribe_recipients', line 811): …
    """

    path: str
    code: str
    message: str
    #: The form's own bilingual message for a broken constraint, by language.
    text: dict[str, str] | None = None
    #: The name of the item (or choice list) the problem is in, as written in the form.
    item: str | None = None
    #: 1-based line in a TOML or YAML form file.
    line: int | None = None
    #: XLSForm sheet (``survey``, ``choices``, ``settings``) and 1-based row.
    sheet: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        where = []
        if self.item is not None:
            in_list = self.path.startswith("$.choices") or self.sheet == "choices"
            kind = "list" if in_list else "item"
            where.append(f"{kind} '{self.item}'")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None and not self.path.startswith(f"{self.sheet}!"):
            where.append(f"{self.sheet or 'sheet'} row {self.row}")
        place = f"{self.path} ({', '.join(where)})" if where else self.path
        return shown(f"{place}: {self.message}")


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
    WRONG_PROJECT = "bundle is for another project"
    WRONG_BUNDLE_ID = "bundle id is not the one it was uploaded as"


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


class CertificateInvalid(SchemaError):
    """A device certificate is not valid: bad signature, malformed, expired, not yet valid
    or for another project. ``.reason`` names which, for logs and the administrator."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"device certificate invalid ({reason})")


class TlogError(SchemaError):
    """Root of audit-log verification errors (docs/spec/audit-log-v1.md §10)."""


class LogProofInvalid(TlogError):
    """An inclusion or consistency proof does not verify; the message says which check.

    Raised for every way a proof can fail, including malformed inputs (a hash that is
    not 32 bytes, an index outside the tree): proofs come from the network and a
    verifier treats them all alike. Next step for a person: fetch a fresh proof; if it
    fails again, the log has misbehaved and the two checkpoints are the evidence.
    """


class VerifierKeyInvalid(TlogError):
    """A verifier key string (``<name>+<key id>+<base64 key>``) cannot be used."""


class NoteReason(enum.Enum):
    """Which rule of the signed-note or checkpoint format a note broke (§8, §9, §10)."""

    OVERSIZED = "note larger than 1 MiB"
    NOT_UTF8 = "note is not valid UTF-8"
    CONTROL_CHARACTER = "control character other than newline (e.g. a carriage return)"
    MALFORMED_NOTE = "no blank line before the signatures, or no signature lines"
    MALFORMED_SIGNATURE = "malformed signature line"
    TOO_MANY_SIGNATURES = "more than 100 signature lines"
    DUPLICATE_SIGNATURE = "two signatures by the same known key"
    SIGNATURE_INVALID = "a signature by a known key does not verify"
    NO_KNOWN_SIGNATURE = "no signature by a known key"
    MALFORMED_CHECKPOINT = "checkpoint text is not origin, size, root and extension lines"
    BAD_TREE_SIZE = "tree size is not canonical decimal in 0..2^64-1"
    BAD_ROOT_HASH = "root hash is not canonical base64 of 32 bytes"
    ORIGIN_MISMATCH = "origin differs from the key name or the expected origin"


class NoteInvalid(TlogError):
    """A signed note was rejected; ``.reason`` is the rule it broke, ``.detail`` where.

    Next step for a person: a note is rejected whole, never partly trusted; fetch it
    again from the server and, if it is rejected again, report it with the note text.
    """

    def __init__(self, reason: NoteReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.detail))


class CheckpointInvalid(NoteInvalid):
    """A checkpoint was rejected: as a signed note or as a checkpoint body (§9)."""


class ReceiptInvalid(SchemaError):
    """A receipt does not prove the server holds the bundle. Keep the bundle."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"receipt invalid ({reason}): the bundle is kept")


class IdentityInputError(SchemaError):
    """A name or a province answer cannot be normalised (identity-normalisation.md §11).

    ``.code`` is stable for programs (``empty``, ``too_long``, ``not_text``,
    ``not_letters``, ``stray_jamo``, ``one_syllable``, ``no_given_name``, ``mixed_script``,
    ``unknown_province``, ``ambiguous_province``). The message says what is wrong and what
    to do next, and never contains the input: names and home regions are personal data.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, str(self)))


__all__ += ["IdentityInputError"]
