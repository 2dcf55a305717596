"""The central store: one interface (:class:`Store`, whose transactions hand out typed
repositories, :class:`Tx`), and its backends: SQLite (:mod:`.sqlite`, the embedded
default) and PostgreSQL (:mod:`.postgres`, several servers on one database), chosen by
``[store] url`` (:func:`open_store`). All SQL lives under this package; nothing else
imports a database driver."""

from ._access import AdminToken, Device, EnrollHow, EnrollToken, Role
from ._api import Store, Tx
from ._audit import (
    MAC_FROM_KEY,
    Leaf,
    Link,
    StoredEntry,
    chain_mac,
    mac_from_marker,
    read_mac_from,
)
from ._forms import StoredForm
from ._ingest import (
    Bundle,
    BundleState,
    CurrentRecord,
    Quarantined,
    RecordKey,
    RecordSource,
    RecordStatus,
    ReviewState,
    StoredRecord,
    Upload,
)
from ._open import is_postgres, open_store
from ._respondents import (
    CandidateState,
    ClusterMember,
    Interview,
    LinkHow,
    RespondentCounts,
    RespondentState,
    StoredCandidate,
    StoredLink,
)
from .sqlite import SCHEMA_VERSION, SqliteStore

__all__ = [
    "is_postgres",
    "open_store",
    "Bundle",
    "BundleState",
    "CurrentRecord",
    "Quarantined",
    "RecordKey",
    "RecordSource",
    "RecordStatus",
    "ReviewState",
    "StoredRecord",
    "Upload",
    "MAC_FROM_KEY",
    "SCHEMA_VERSION",
    "AdminToken",
    "CandidateState",
    "ClusterMember",
    "Device",
    "EnrollHow",
    "EnrollToken",
    "Interview",
    "LinkHow",
    "RespondentCounts",
    "RespondentState",
    "Leaf",
    "Link",
    "Role",
    "SqliteStore",
    "Store",
    "StoredEntry",
    "StoredCandidate",
    "StoredForm",
    "StoredLink",
    "Tx",
    "chain_mac",
    "mac_from_marker",
    "read_mac_from",
]
