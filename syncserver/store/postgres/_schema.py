"""The PostgreSQL schema of the central store, with numbered migrations.

The same tables as the SQLite schema (:mod:`syncserver.store.sqlite._schema`), in
PostgreSQL's terms: ids and hashes are ``bytea`` (16-byte ids, compared byte by byte as
SQLite compares blobs), times ``bigint`` Unix milliseconds (they overflow ``integer``),
text that is sorted is ``COLLATE "C"`` (byte order, as SQLite sorts, whatever the
server's locale). What SQLite gets from ``rowid`` is a real column here: ``records.arrival``
(the order records were merged in, which exports follow) and the identity columns of
``quarantine``, ``respondents``, ``respondent_links`` and ``respondent_candidates``.

Three things exist only here, for several servers on one database:

- ``audit_head``: one row holding the index and MAC of the newest audit entry. An
  appender takes it ``FOR UPDATE``, so that appenders queue until the one before them
  commits: indexes are gap-free, in commit order, and the MAC chain is one chain
  (docs/spec/audit-log-v1.md §14.3).
- ``respondent_matching``: one row, the lock that matching passes, links and review
  decisions take ``FOR UPDATE`` (one at a time across servers), and the count of
  matching passes committed (:mod:`._respondents`).
- ``blob_chunks`` and ``part_chunks``: received bundles and uploads in progress, in
  chunks, so that servers share nothing but the database (no blob directory); written
  and read by :mod:`syncserver.store.blobs` (appends lock the upload's row).

The version is kept in ``schema_version`` (SQLite keeps it in ``PRAGMA user_version``).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: list[str] = [
    # 1: the whole schema, as SQLite's migrations 1-4 leave it, plus audit_head and blobs
    """
    CREATE TABLE meta (
        key   text PRIMARY KEY,
        value bytea NOT NULL
    );

    CREATE TABLE devices (
        device_id      bytea PRIMARY KEY,
        serial         bigint NOT NULL UNIQUE,
        label          text COLLATE "C" NOT NULL,
        public_key     bytea NOT NULL UNIQUE,
        certificate    bytea NOT NULL,
        not_before_ms  bigint NOT NULL,
        not_after_ms   bigint NOT NULL,
        enrolled_ms    bigint NOT NULL,
        enrolled_how   text NOT NULL CHECK (enrolled_how IN ('token', 'file')),
        revoked_ms     bigint,
        revoke_reason  text,
        last_seq       bigint NOT NULL DEFAULT 0,
        last_bundle    bytea
    );
    CREATE SEQUENCE device_serials;

    CREATE TABLE enroll_tokens (
        token_hash  bytea PRIMARY KEY,
        label       text COLLATE "C" NOT NULL,
        created_ms  bigint NOT NULL,
        expires_ms  bigint NOT NULL,
        used_ms     bigint,
        device_id   bytea REFERENCES devices(device_id),
        made        bigint GENERATED ALWAYS AS IDENTITY  -- ties of created_ms: SQLite's rowid
    );

    CREATE TABLE admin_tokens (
        token_hash  bytea PRIMARY KEY,
        role        text NOT NULL CHECK (role IN ('admin', 'manager', 'auditor')),
        label       text COLLATE "C" NOT NULL,
        created_ms  bigint NOT NULL,
        revoked_ms  bigint,
        made        bigint GENERATED ALWAYS AS IDENTITY  -- ties of created_ms: SQLite's rowid
    );
    CREATE UNIQUE INDEX admin_tokens_live_label ON admin_tokens(label)
        WHERE revoked_ms IS NULL;

    CREATE TABLE forms (
        form_id       text COLLATE "C" NOT NULL,
        version       bigint NOT NULL,
        digest        text COLLATE "C" NOT NULL,
        document      bytea NOT NULL,
        published_ms  bigint NOT NULL,
        PRIMARY KEY (form_id, version)
    );

    CREATE TABLE uploads (
        bundle_id     bytea PRIMARY KEY,
        device_id     bytea NOT NULL REFERENCES devices(device_id),
        size          bigint NOT NULL,
        sha256        bytea NOT NULL,
        created_ms    bigint NOT NULL,
        completed_ms  bigint
    );
    CREATE INDEX uploads_open ON uploads (device_id) WHERE completed_ms IS NULL;

    CREATE TABLE bundles (
        bundle_id    bytea PRIMARY KEY,
        sha256       bytea NOT NULL,
        size         bigint NOT NULL,
        device_id    bytea NOT NULL,
        received_ms  bigint NOT NULL,
        state        text NOT NULL CHECK (state IN ('stored', 'accepted', 'quarantined')),
        receipt      bytea,
        audit_index  bigint
    );

    CREATE TABLE records (
        record_id     bytea NOT NULL,
        version       bigint NOT NULL,
        form_id       text COLLATE "C" NOT NULL,
        form_version  bigint NOT NULL,
        sha256        bytea NOT NULL,
        bundle_id     bytea NOT NULL REFERENCES bundles(bundle_id),
        device_id     bytea NOT NULL,
        answers       bytea NOT NULL,
        sealed        bytea,
        review        text NOT NULL DEFAULT 'received'
                      CHECK (review IN ('received', 'has_issues', 'approved', 'rejected')),
        status        text NOT NULL DEFAULT 'current'
                      CHECK (status IN ('current', 'superseded', 'conflict')),
        received_ms   bigint NOT NULL,
        arrival       bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (record_id, version, sha256)
    );
    -- An export walks a form version's current records in arrival order, no sort
    -- (SQLite's records_form has the rowid at its end).
    CREATE INDEX records_form ON records(form_id, form_version, status, arrival);

    CREATE TABLE quarantine (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        bundle_id    bytea NOT NULL,
        record_id    bytea,
        version      bigint,
        reason       text NOT NULL,
        problems     bytea,
        created_ms   bigint NOT NULL,
        released_ms  bigint
    );

    CREATE TABLE audit (
        idx         bigint PRIMARY KEY,
        entry       bytea NOT NULL,
        leaf_hash   bytea NOT NULL,
        mac         bytea
    );
    CREATE TABLE audit_head (
        one   boolean PRIMARY KEY DEFAULT true CHECK (one),
        idx   bigint NOT NULL,
        mac   bytea
    );
    INSERT INTO audit_head (idx, mac) VALUES (-1, NULL);

    CREATE TABLE checkpoints (
        size        bigint PRIMARY KEY,
        note        text NOT NULL,
        created_ms  bigint NOT NULL
    );

    CREATE TABLE respondents (
        seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        record_id      bytea NOT NULL UNIQUE,
        respondent_id  bytea NOT NULL UNIQUE,
        cluster_id     bytea NOT NULL,
        token_version  bigint NOT NULL,
        tokens         bytea NOT NULL,
        postings       bytea NOT NULL,
        state          text NOT NULL CHECK (state IN ('pending', 'matched')),
        registered_ms  bigint NOT NULL
    );
    CREATE INDEX respondents_cluster ON respondents(cluster_id);
    CREATE INDEX respondents_pending ON respondents(seq) WHERE state = 'pending';

    CREATE TABLE respondent_postings (
        token  bytea NOT NULL,
        seq    bigint NOT NULL,
        PRIMARY KEY (token, seq)
    );

    CREATE TABLE respondent_links (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        a           bytea NOT NULL,
        b           bytea NOT NULL,
        how         text NOT NULL CHECK (how IN ('auto', 'manual')),
        score       double precision,
        levels      text COLLATE "C",
        created_ms  bigint NOT NULL,
        actor       text NOT NULL,
        removed_ms  bigint,
        removed_by  text,
        CHECK (a < b)
    );
    CREATE INDEX respondent_links_a ON respondent_links(a) WHERE removed_ms IS NULL;
    CREATE INDEX respondent_links_b ON respondent_links(b) WHERE removed_ms IS NULL;

    CREATE TABLE respondent_candidates (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        a           bytea NOT NULL,
        b           bytea NOT NULL,
        score       double precision,
        levels      text COLLATE "C",
        state       text NOT NULL
                    CHECK (state IN ('open', 'linked', 'distinct', 'settled')),
        created_ms  bigint NOT NULL,
        decided_ms  bigint,
        decided_by  text,
        CHECK (a < b),
        UNIQUE (a, b)
    );
    CREATE INDEX respondent_candidates_open ON respondent_candidates(id) WHERE state = 'open';
    CREATE INDEX respondent_candidates_b ON respondent_candidates(b);

    CREATE TABLE respondent_matching (
        one     boolean PRIMARY KEY DEFAULT true CHECK (one),
        passes  bigint NOT NULL
    );
    INSERT INTO respondent_matching (passes) VALUES (0);

    CREATE TABLE blob_chunks (
        sha256  bytea NOT NULL,
        n       integer NOT NULL,
        data    bytea NOT NULL,
        PRIMARY KEY (sha256, n)
    );
    CREATE TABLE part_chunks (
        bundle_id   bytea NOT NULL,
        n           integer NOT NULL,
        data        bytea NOT NULL,
        written_ms  bigint NOT NULL,
        PRIMARY KEY (bundle_id, n)
    );
    -- sealed bundles do not compress: stored out of line without trying
    ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    ALTER TABLE part_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
