"""Wire types both ends share (docs/spec/bundle-v1.md §7, docs/spec/api-v1.md)."""

from ._auth import (
    H_DEVICE,
    H_NONCE,
    H_SIGNATURE,
    H_TIMESTAMP,
    REQUEST_LABEL,
    request_message,
    sign_request_headers,
)
from ._enroll import (
    ENROLL_LABEL,
    ENROLL_TOKEN_PREFIX,
    EnrollmentRequest,
    EnrollmentResponse,
    sign_request,
    verify_request,
)
from ._errors import ErrorBody, ErrorDetail
from ._forms import (
    FORMSET_LABEL,
    FormSet,
    PublishedFormDoc,
    SignedFormSet,
    sign_formset,
    verify_formset,
)
from ._receipt import RECEIPT_LABEL, Receipt, ReceiptBody, sign_receipt, verify_receipt
from ._record import Record, RecordHead, decode_record, decode_record_head, encode_record
from ._upload import UploadCreate, UploadState

__all__ = [
    "ENROLL_LABEL",
    "ENROLL_TOKEN_PREFIX",
    "FORMSET_LABEL",
    "FormSet",
    "PublishedFormDoc",
    "SignedFormSet",
    "sign_formset",
    "verify_formset",
    "H_DEVICE",
    "H_NONCE",
    "H_SIGNATURE",
    "H_TIMESTAMP",
    "RECEIPT_LABEL",
    "REQUEST_LABEL",
    "Receipt",
    "ReceiptBody",
    "sign_receipt",
    "verify_receipt",
    "UploadCreate",
    "UploadState",
    "request_message",
    "sign_request_headers",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "ErrorBody",
    "ErrorDetail",
    "Record",
    "RecordHead",
    "decode_record",
    "decode_record_head",
    "encode_record",
    "sign_request",
    "verify_request",
]
