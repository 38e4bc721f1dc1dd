-- Started, unfinished jobs per environment: what GET /environments counts as currentJobs, what
-- the scheduler counts before it claims, and where the janitor looks for overdue jobs. The
-- scheduler admits at most maxJobs of an environment, so this index stays as small as the sum of
-- the environments' maxJobs however long the queue grows, and each of those reads visits only it
-- (the unfinished-jobs index also holds every queued job, whose rows the reads had to visit to
-- test submitted_at).
CREATE INDEX jobs_started ON jobs (environment, submitted_at)
    WHERE status NOT IN (31, 32, 70) AND submitted_at IS NOT NULL;
