-- 0002: a proposal can also be abandoned (the lab will not measure it; it may be proposed
-- again) or failed (the lab tried and could not measure it; never proposed again), with
-- a note saying why (`e2t proposals abandon|fail`). It also keeps the acquisition as the
-- proposal file states it, in the user's terms (`acquisition_name`, e.g. `lcb` of a
-- minimized target in its unit, and `acquisition_value`); `acquisition` stays the value the
-- strategy ranked by (larger is better).
-- DuckDB cannot change a CHECK constraint in place, so the table is rebuilt with the wider
-- one; every row and id is kept and the id sequence stays the same.

CREATE TABLE proposal_0002 (
    id              BIGINT PRIMARY KEY DEFAULT nextval('proposal_id_seq'),
    round           INTEGER NOT NULL,
    material_id     VARCHAR NOT NULL,
    strategy        VARCHAR NOT NULL,
    acquisition     DOUBLE,
    acquisition_name  VARCHAR,
    acquisition_value DOUBLE,
    mean            DOUBLE,
    std             DOUBLE,
    domain          VARCHAR,
    domain_distance DOUBLE,
    reason          VARCHAR,
    model_version   INTEGER,
    screen_run_id   BIGINT,
    status          VARCHAR NOT NULL DEFAULT 'proposed'
                    CHECK (status IN ('proposed', 'measured', 'dropped', 'abandoned',
                                      'failed')),
    status_note     VARCHAR,
    created_at      TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    updated_at      TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    UNIQUE (round, material_id)
);

INSERT INTO proposal_0002 (id, round, material_id, strategy, acquisition, mean, std, domain,
                           domain_distance, reason, model_version, screen_run_id, status,
                           created_at, updated_at)
SELECT id, round, material_id, strategy, acquisition, mean, std, domain, domain_distance,
       reason, model_version, screen_run_id, status, created_at, updated_at
FROM proposal ORDER BY id;

DROP TABLE proposal;
ALTER TABLE proposal_0002 RENAME TO proposal;
