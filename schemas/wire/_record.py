"""The record: one version of one response (docs/spec/bundle-v1.md §7).

A record is identified by a stable root id (UUIDv7, assigned when the interview starts)
and an integer version that grows with each edit. It names its form by id and version;
``answers`` follow docs/spec/survey-language.md §8 (question name → value; a repeat is a
list of such mappings; dates are ``YYYY-MM-DD`` strings).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any

import msgspec

__all__ = ["Record", "encode_record", "decode_record"]

_FORM_ID = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
_POSITIVE = Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
_NAME = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


_UTC = Annotated[datetime.datetime, msgspec.Meta(tz=True)]


class Record(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """One version of one response.

    Fields at their default are not encoded (``omit_defaults``), so appending an optional
    field never changes the bytes of records that do not use it.
    """

    record_id: uuid.UUID
    version: _POSITIVE
    form_id: _FORM_ID
    form_version: _POSITIVE
    created_at: _UTC
    modified_at: _UTC
    lang: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}$")]
    answers: dict[str, Any]
    attachments: tuple[_NAME, ...] = ()
    #: The respondent stopped the interview (their right at any question): required
    #: questions left unanswered are then not errors (survey-language.md §8.1).
    stopped_early: bool = False

    def __repr__(self) -> str:
        # Answers are testimony: never in a repr, a log line or a traceback.
        return (
            f"Record(record_id={self.record_id}, version={self.version}, "
            f"form={self.form_id!r} v{self.form_version})"
        )


_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_decoder = msgspec.msgpack.Decoder(Record)


def encode_record(record: Record) -> bytes:
    """The canonical msgpack bytes of a record."""
    return _encoder.encode(record)


def decode_record(data: bytes) -> Record:
    """Decode and type-check a record; raises ``msgspec.DecodeError`` or ``ValidationError``."""
    return _decoder.decode(data)
