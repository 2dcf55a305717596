"""Raw bundles and uploads in progress, behind their own small interface (:class:`Blobs`,
docs/spec/api-v1.md §4): a directory beside a SQLite store (:class:`LocalBlobs`, the
default), or chunked rows in the PostgreSQL database, so that servers on one database
share nothing else. :func:`open_blobs` chooses from ``[store] url``."""

from ._api import BlobRef, Blobs, BlobUnreadable
from ._local import LocalBlobs
from ._open import open_blobs

__all__ = ["BlobRef", "BlobUnreadable", "Blobs", "LocalBlobs", "open_blobs"]
