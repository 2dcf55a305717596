"""Resumable uploads and the bundles received, as ingest and the web layer name them
(docs/spec/api-v1.md §4). The blob store lives in :mod:`syncserver.store.blobs`: its
interface (:class:`Blobs`: a project's is ``project.blobs``) and its implementations, of
which :class:`UploadArea` is the local one (``DIR/uploads`` and ``DIR/blobs``, beside a
SQLite store), under the name the tests and benchmarks that drive it directly know."""

from ..store.blobs import Blobs
from ..store.blobs import LocalBlobs as UploadArea

__all__ = ["Blobs", "UploadArea"]
