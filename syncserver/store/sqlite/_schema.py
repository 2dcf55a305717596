"""The SQLite schema of the central store, with numbered migrations.

Ids are stored as 16-byte blobs (UUIDv7 where sealsync makes them, so inserts are
roughly in order), times as Unix milliseconds. Tokens are stored only as SHA-256 hashes.
Sensitive answers are stored encrypted (issue #3, "identity fields kept out of plain
columns"); nothing in this schema holds a passphrase or a private key.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: list[str] = [
    # 1: the whole first schema
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;

    CREATE TABLE devices (
        device_id      BLOB PRIMARY KEY,
        serial         INTEGER NOT NULL UNIQUE,
        label          TEXT NOT NULL,
        public_key     BLOB NOT NULL UNIQUE,
        certificate    BLOB NOT NULL,
        not_before_ms  INTEGER NOT NULL,
        not_after_ms   INTEGER NOT NULL,
        enrolled_ms    INTEGER NOT NULL,
        enrolled_how   TEXT NOT NULL CHECK (enrolled_how IN ('token', 'file')),
        revoked_ms     INTEGER,
        revoke_reason  TEXT,
        last_seq       INTEGER NOT NULL DEFAULT 0,
        last_bundle    BLOB
    ) STRICT;

    CREATE TABLE enroll_tokens (
        token_hash  BLOB PRIMARY KEY,
        label       TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        expires_ms  INTEGER NOT NULL,
        used_ms     INTEGER,
        device_id   BLOB REFERENCES devices(device_id)
    ) STRICT;

    CREATE TABLE admin_tokens (
        token_hash  BLOB PRIMARY KEY,
        role        TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'auditor')),
        label       TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        revoked_ms  INTEGER
    ) STRICT;

    CREATE TABLE forms (
        form_id       TEXT NOT NULL,
        version       INTEGER NOT NULL,
        digest        TEXT NOT NULL,
        document      BLOB NOT NULL,
        published_ms  INTEGER NOT NULL,
        PRIMARY KEY (form_id, version)
    ) STRICT;

    CREATE TABLE uploads (
        bundle_id     BLOB PRIMARY KEY,
        device_id     BLOB NOT NULL REFERENCES devices(device_id),
        size          INTEGER NOT NULL,
        sha256        BLOB NOT NULL,
        created_ms    INTEGER NOT NULL,
        completed_ms  INTEGER
    ) STRICT;

    CREATE TABLE bundles (
        bundle_id    BLOB PRIMARY KEY,
        sha256       BLOB NOT NULL,
        size         INTEGER NOT NULL,
        device_id    BLOB NOT NULL,
        received_ms  INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('stored', 'accepted', 'quarantined')),
        receipt      BLOB,
        audit_index  INTEGER
    ) STRICT;

    CREATE TABLE records (
        record_id     BLOB NOT NULL,
        version       INTEGER NOT NULL,
        form_id       TEXT NOT NULL,
        form_version  INTEGER NOT NULL,
        sha256        BLOB NOT NULL,
        bundle_id     BLOB NOT NULL REFERENCES bundles(bundle_id),
        device_id     BLOB NOT NULL,
        answers       BLOB NOT NULL,
        sealed        BLOB,
        review        TEXT NOT NULL DEFAULT 'received'
                      CHECK (review IN ('received', 'has_issues', 'approved', 'rejected')),
        status        TEXT NOT NULL DEFAULT 'current'
                      CHECK (status IN ('current', 'superseded', 'conflict')),
        received_ms   INTEGER NOT NULL,
        PRIMARY KEY (record_id, version, sha256)
    ) STRICT;
    CREATE INDEX records_form ON records(form_id, form_version, status);

    CREATE TABLE quarantine (
        id           INTEGER PRIMARY KEY,
        bundle_id    BLOB NOT NULL,
        record_id    BLOB,
        version      INTEGER,
        reason       TEXT NOT NULL,
        problems     BLOB,
        created_ms   INTEGER NOT NULL,
        released_ms  INTEGER
    ) STRICT;

    CREATE TABLE audit (
        idx         INTEGER PRIMARY KEY,
        entry       BLOB NOT NULL,
        leaf_hash   BLOB NOT NULL
    ) STRICT;

    CREATE TABLE checkpoints (
        size        INTEGER PRIMARY KEY,
        note        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    ) STRICT;
    """,
    # 2: respondents, their keyed pseudonyms, links and the review queue
    # (docs/spec/respondent-matching.md §10). No name or other identity answer in clear.
    """
    CREATE TABLE respondents (
        seq            INTEGER PRIMARY KEY,
        record_id      BLOB NOT NULL UNIQUE,
        respondent_id  BLOB NOT NULL UNIQUE,
        cluster_id     BLOB NOT NULL,
        token_version  INTEGER NOT NULL,
        tokens         BLOB NOT NULL,
        postings       BLOB NOT NULL,
        state          TEXT NOT NULL CHECK (state IN ('pending', 'matched')),
        registered_ms  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX respondents_cluster ON respondents(cluster_id);
    CREATE INDEX respondents_pending ON respondents(seq) WHERE state = 'pending';

    CREATE TABLE respondent_postings (
        token  BLOB NOT NULL,
        seq    INTEGER NOT NULL,
        PRIMARY KEY (token, seq)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE respondent_links (
        id          INTEGER PRIMARY KEY,
        a           BLOB NOT NULL,
        b           BLOB NOT NULL,
        how         TEXT NOT NULL CHECK (how IN ('auto', 'manual')),
        score       REAL,
        levels      TEXT,
        created_ms  INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        removed_ms  INTEGER,
        removed_by  TEXT,
        CHECK (a < b)
    ) STRICT;
    CREATE INDEX respondent_links_a ON respondent_links(a) WHERE removed_ms IS NULL;
    CREATE INDEX respondent_links_b ON respondent_links(b) WHERE removed_ms IS NULL;

    CREATE TABLE respondent_candidates (
        id          INTEGER PRIMARY KEY,
        a           BLOB NOT NULL,
        b           BLOB NOT NULL,
        score       REAL,
        levels      TEXT,
        state       TEXT NOT NULL
                    CHECK (state IN ('open', 'linked', 'distinct', 'settled')),
        created_ms  INTEGER NOT NULL,
        decided_ms  INTEGER,
        decided_by  TEXT,
        CHECK (a < b),
        UNIQUE (a, b)
    ) STRICT;
    CREATE INDEX respondent_candidates_open ON respondent_candidates(id) WHERE state = 'open';
    CREATE INDEX respondent_candidates_b ON respondent_candidates(b);
    """,
    # 3: uploads announced and not completed, per device (the cap on them, the expiry)
    """
    CREATE INDEX uploads_open ON uploads (device_id) WHERE completed_ms IS NULL;
    """,
    # 4: the writer's chained MAC per audit row (docs/spec/audit-log-v1.md §14.3); rows
    # written before this migration have none. Opened with the project key, the store
    # records in meta (audit_mac_from) the first index that must carry one.
    """
    ALTER TABLE audit ADD COLUMN mac BLOB;
    """,
    # 5: at most one live admin token per label, kept by the database itself (the index
    # PostgreSQL has, where several servers may create tokens at once). Creating a token
    # always checked this inside its write, so no store holds two live tokens with one
    # label. IF NOT EXISTS: a store set back to an older version (tests) still has it.
    """
    CREATE UNIQUE INDEX IF NOT EXISTS admin_tokens_live_label ON admin_tokens(label)
        WHERE revoked_ms IS NULL;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
