"""Wire types both ends share (docs/spec/bundle-v1.md §7, docs/spec/api-v1.md)."""

from ._errors import ErrorBody, ErrorDetail
from ._record import Record, decode_record, encode_record

__all__ = ["ErrorBody", "ErrorDetail", "Record", "decode_record", "encode_record"]
