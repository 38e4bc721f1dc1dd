-- Jobs, their status history and provider nonces.
-- Status codes (operator_argo.domain.status.JobStatus): 1 queued, 20 configuring,
-- 30 provisioned, 31 data failed, 32 algorithm failed, 40 running, 60 publishing, 70 finished.
-- The final ones are 31, 32 and 70; "unfinished" below means status NOT IN (31, 32, 70).

CREATE TABLE jobs (
    job_id               text PRIMARY KEY,
    seq                  bigint GENERATED ALWAYS AS IDENTITY,  -- insertion order: FIFO tie-break
    owner                text NOT NULL,
    agreement_id         text NOT NULL,
    environment          text NOT NULL,
    status               smallint NOT NULL DEFAULT 1,
    stopreq              smallint NOT NULL DEFAULT 0,
    removed              boolean NOT NULL DEFAULT false,
    date_created         timestamptz NOT NULL DEFAULT now(),
    date_finished        timestamptz,
    spec                 jsonb NOT NULL,
    chain_id             bigint,
    provider_address     text,
    valid_until          bigint,
    results              jsonb,  -- NULL until publish has reported
    termination          jsonb,
    workflow_name        text,
    submitted_at         timestamptz,  -- set when a scheduler claims the job: it counts as started
    algorithm_started_at timestamptz,
    results_deleted_at   timestamptz,
    error                text
);

-- Concurrency of POST /compute is enforced here: one unfinished job per agreement.
CREATE UNIQUE INDEX jobs_one_unfinished_per_agreement
    ON jobs (agreement_id) WHERE status NOT IN (31, 32, 70);

CREATE INDEX jobs_owner ON jobs (lower(owner), date_created);
CREATE INDEX jobs_agreement ON jobs (agreement_id, date_created);
-- running jobs, started jobs per environment, jobs to resume
CREATE INDEX jobs_unfinished ON jobs (environment, date_created) WHERE status NOT IN (31, 32, 70);
-- the admission queue: unclaimed queued jobs (status 1) per environment, oldest first
CREATE INDEX jobs_queue ON jobs (environment, date_created, seq)
    WHERE status = 1 AND submitted_at IS NULL;
-- result expiry
CREATE INDEX jobs_results_kept ON jobs (date_finished)
    WHERE date_finished IS NOT NULL AND results_deleted_at IS NULL;

CREATE TABLE job_status_history (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  text NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    status  smallint NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    detail  text
);
CREATE INDEX job_status_history_job ON job_status_history (job_id, id);

-- Nonces are 19+ digit integers: numeric, never floating point.
CREATE TABLE nonces (
    signer     text NOT NULL,  -- lowercased address
    nonce      numeric(78, 0) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signer, nonce)
);
