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

from .. import text

__all__ = ["Record", "RecordHead", "decode_record", "decode_record_head", "encode_record"]

_FORM_ID = text.FormId  # matched whole: no final newline, no control character
_POSITIVE = Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
_NAME = text.AttachmentName


_UTC = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
_LANG = text.Lang


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
    lang: _LANG
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


class RecordHead(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """A record whose answers are left undecoded: the exact bytes of the ``answers`` map
    (a ``msgspec.Raw``). What an opener checks against its manifest entry, and what a
    server decodes the answers from, into the shape of their form only (bundle-v1.md §7,
    §8): decoding a hostile record's answers generically could cost far more memory than
    its bytes."""

    record_id: uuid.UUID
    version: _POSITIVE
    form_id: _FORM_ID
    form_version: _POSITIVE
    created_at: _UTC
    modified_at: _UTC
    lang: _LANG
    answers: msgspec.Raw
    attachments: tuple[_NAME, ...] = ()
    stopped_early: bool = False

    def __repr__(self) -> str:
        return (
            f"RecordHead(record_id={self.record_id}, version={self.version}, "
            f"form={self.form_id!r} v{self.form_version})"
        )

    def with_answers(self, answers: dict[str, Any]) -> Record:
        """The record with ``answers`` decoded (or replaced)."""
        return Record(
            record_id=self.record_id,
            version=self.version,
            form_id=self.form_id,
            form_version=self.form_version,
            created_at=self.created_at,
            modified_at=self.modified_at,
            lang=self.lang,
            answers=answers,
            attachments=self.attachments,
            stopped_early=self.stopped_early,
        )


_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_decoder = msgspec.msgpack.Decoder(Record)
_head_decoder = msgspec.msgpack.Decoder(RecordHead)


def encode_record(record: Record) -> bytes:
    """The canonical msgpack bytes of a record."""
    return _encoder.encode(record)


def decode_record(data: bytes) -> Record:
    """Decode and type-check a record; raises ``msgspec.DecodeError`` or ``ValidationError``."""
    return _decoder.decode(data)


def decode_record_head(data: bytes) -> RecordHead:
    """Decode and type-check a record, leaving its answers undecoded (:class:`RecordHead`);
    raises ``msgspec.DecodeError`` or ``ValidationError``."""
    return _head_decoder.decode(data)
