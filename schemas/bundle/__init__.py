"""Bundle format v1: seal and open (docs/spec/bundle-v1.md).

A bundle is a cleartext header (version line, bundle id, project id, one X25519 stanza
per recipient, header MAC) followed by a ChaCha20-Poly1305 STREAM payload holding a
device-signed manifest, the records and the attachments.
"""

from ._header import BundleHeader, read_header
from ._keys import DeviceKey, RecipientKey, RecipientPublicKey, recipient_key_id
from ._limits import DEFAULT_LIMITS, Limits
from ._manifest import AttachmentEntry, Manifest, RecordEntry
from ._open import OpenedBundle, RecordSink, open_bundle
from ._seal import Attachment, SealedBundle, seal_bundle
from ._sinks import AttachmentSink, DirectorySink, DiscardSink, MemorySink
from ._stream import CHUNK_SIZE, TAG_SIZE, StreamReader, StreamWriter

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_LIMITS",
    "Attachment",
    "AttachmentEntry",
    "AttachmentSink",
    "BundleHeader",
    "DeviceKey",
    "DirectorySink",
    "DiscardSink",
    "Limits",
    "Manifest",
    "MemorySink",
    "OpenedBundle",
    "RecipientKey",
    "RecipientPublicKey",
    "RecordEntry",
    "RecordSink",
    "SealedBundle",
    "StreamReader",
    "StreamWriter",
    "TAG_SIZE",
    "open_bundle",
    "read_header",
    "recipient_key_id",
    "seal_bundle",
]
