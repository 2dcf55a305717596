"""Wire types both ends share (docs/spec/bundle-v1.md §7, docs/spec/api-v1.md)."""

from ._enroll import (
    ENROLL_LABEL,
    EnrollmentRequest,
    EnrollmentResponse,
    sign_request,
    verify_request,
)
from ._errors import ErrorBody, ErrorDetail
from ._record import Record, decode_record, encode_record

__all__ = [
    "ENROLL_LABEL",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "ErrorBody",
    "ErrorDetail",
    "Record",
    "decode_record",
    "encode_record",
    "sign_request",
    "verify_request",
]
