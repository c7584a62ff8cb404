-- 0004: a campaign's [transfer] source, read once when the campaign is created: what it is
-- (kind, location, property, unit and the factor to the campaign unit, method), the SHA-256
-- of what was read, its rows (canonical input, domain, value after the unit factor) and
-- how many rows were dropped; later, the fitted source model's folder and checksum.
-- Campaigns without [transfer] have no row here.

CREATE TABLE transfer_source (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    kind         VARCHAR NOT NULL CHECK (kind IN ('table', 'campaign', 'model')),
    location     VARCHAR NOT NULL,
    property     VARCHAR,
    unit         VARCHAR,
    factor       DOUBLE,
    method       VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL,
    n_rows       BIGINT NOT NULL,
    n_dropped    BIGINT NOT NULL,
    model_path   VARCHAR,
    model_sha256 VARCHAR,
    recorded_at  TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
);

CREATE TABLE transfer_source_row (
    row_index BIGINT PRIMARY KEY,
    canonical VARCHAR NOT NULL,
    domain    VARCHAR,
    value     DOUBLE NOT NULL
);
