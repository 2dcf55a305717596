"""Ingest: resumable uploads and the blob store (``uploads``), opening and validating
bundles in worker processes (``_prepare``), and the pipeline from a completed upload
to merged records (``pipeline``)."""

from ._prepare import Prepared, Preparer, PreparerPool, pool_for_project
from .pipeline import IngestReport, Preparing, ingest_bundle, persist_upload, recover

__all__ = [
    "IngestReport",
    "Prepared",
    "Preparer",
    "PreparerPool",
    "Preparing",
    "ingest_bundle",
    "persist_upload",
    "pool_for_project",
    "recover",
]
