-- 0001: the campaign store's first schema.
-- Applied in one transaction by e2t_discovery.store; recorded in schema_migration with
-- this file's SHA-256. Never edit a released migration: add 0002_*.sql instead.

CREATE TABLE campaign (
    name        VARCHAR PRIMARY KEY,
    description VARCHAR NOT NULL DEFAULT '',
    config_json JSON NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
);

-- Every material the campaign knows: measured ones and proposed library candidates.
CREATE TABLE material (
    id         VARCHAR PRIMARY KEY,
    kind       VARCHAR NOT NULL CHECK (kind IN ('polymer', 'composition', 'structure')),
    canonical  VARCHAR NOT NULL,
    domain     VARCHAR,
    origin     VARCHAR NOT NULL DEFAULT 'measured',
    created_at TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
);

CREATE SEQUENCE measurement_id_seq START 1;
CREATE TABLE measurement (
    id            BIGINT PRIMARY KEY DEFAULT nextval('measurement_id_seq'),
    material_id   VARCHAR NOT NULL,
    property      VARCHAR NOT NULL,
    value         DOUBLE NOT NULL,
    unit          VARCHAR NOT NULL,
    raw_value     DOUBLE NOT NULL,
    raw_unit      VARCHAR NOT NULL,
    source_file   VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    source_row    BIGINT NOT NULL,
    round         INTEGER NOT NULL DEFAULT 0,
    measured_at   TIMESTAMP,
    ingested_at   TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
);

-- One row per ingested file: re-ingesting the same bytes is a no-op.
CREATE TABLE ingest_file (
    sha256         VARCHAR PRIMARY KEY,
    path           VARCHAR NOT NULL,
    n_rows         BIGINT NOT NULL,
    n_measurements BIGINT NOT NULL,
    round          INTEGER NOT NULL,
    ingested_at    TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
);

CREATE TABLE model (
    version            INTEGER PRIMARY KEY,
    parent_version     INTEGER,
    kind               VARCHAR NOT NULL,
    artifact_path      VARCHAR NOT NULL,
    artifact_sha256    VARCHAR NOT NULL,
    n_measurements     BIGINT NOT NULL,
    max_measurement_id BIGINT,
    snapshot_json      JSON NOT NULL,
    metrics_json       JSON NOT NULL,
    created_at         TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
);

CREATE SEQUENCE screen_run_id_seq START 1;
CREATE TABLE screen_run (
    id            BIGINT PRIMARY KEY DEFAULT nextval('screen_run_id_seq'),
    model_version INTEGER NOT NULL,
    library       VARCHAR NOT NULL,
    out_dir       VARCHAR NOT NULL,
    round         INTEGER,
    params_json   JSON NOT NULL,
    status        VARCHAR NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'done', 'failed')),
    view_name     VARCHAR,
    started_at    TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    finished_at   TIMESTAMP
);

CREATE TABLE screen_shard (
    run_id     BIGINT NOT NULL,
    shard      VARCHAR NOT NULL,
    path       VARCHAR NOT NULL,
    n_rows     BIGINT NOT NULL,
    n_rejected BIGINT NOT NULL,
    done_at    TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    PRIMARY KEY (run_id, shard)
);

CREATE SEQUENCE proposal_id_seq START 1;
CREATE TABLE proposal (
    id              BIGINT PRIMARY KEY DEFAULT nextval('proposal_id_seq'),
    round           INTEGER NOT NULL,
    material_id     VARCHAR NOT NULL,
    strategy        VARCHAR NOT NULL,
    acquisition     DOUBLE,
    mean            DOUBLE,
    std             DOUBLE,
    domain          VARCHAR,
    domain_distance DOUBLE,
    reason          VARCHAR,
    model_version   INTEGER,
    screen_run_id   BIGINT,
    status          VARCHAR NOT NULL DEFAULT 'proposed'
                    CHECK (status IN ('proposed', 'measured', 'dropped')),
    created_at      TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    updated_at      TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    UNIQUE (round, material_id)
);

-- Which steps of which round are done: the closed loop resumes from here.
CREATE TABLE round_step (
    round     INTEGER NOT NULL,
    step      VARCHAR NOT NULL,
    info_json JSON NOT NULL,
    done_at   TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    PRIMARY KEY (round, step)
);

-- Append-only log of everything that happened to the campaign.
CREATE SEQUENCE event_id_seq START 1;
CREATE TABLE event (
    id           BIGINT PRIMARY KEY DEFAULT nextval('event_id_seq'),
    happened_at  TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    kind         VARCHAR NOT NULL,
    round        INTEGER,
    payload_json JSON NOT NULL
);

