"""Size and count limits for bundles (docs/spec/bundle-v1.md §8)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]

MiB, GiB = 1024**2, 1024**3


@dataclass(frozen=True)
class Limits:
    """What a bundle may hold. Openers refuse (``LIMIT_EXCEEDED``) anything larger."""

    max_bundle_bytes: int = 64 * GiB
    max_manifest_bytes: int = 4 * MiB
    max_records: int = 10_000
    max_record_bytes: int = 1 * MiB
    max_records_total_bytes: int = 64 * MiB
    max_attachments: int = 1_000
    max_attachment_bytes: int = 16 * GiB


DEFAULT_LIMITS = Limits()
