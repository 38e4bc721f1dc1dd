-- The outbox of start and finish notices (operator_argo.domain.notice). A notice is inserted in
-- the statement that stores what it reports (the job's claim, its final status), so none is
-- lost or made twice; the notice loop delivers it and records the outcome.

CREATE TABLE notices (
    job_id          text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('start', 'finish')),
    status          smallint NOT NULL,  -- the job's status at the moment reported
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- also the lease of an attempt under way
    last_error      text,
    delivered_at    timestamptz,
    given_up_at     timestamptz,
    PRIMARY KEY (job_id, kind)
);

-- the notice loop: undelivered notices by when they are due
CREATE INDEX notices_due ON notices (next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
