"""PostgreSQL adapter: the pool, the embedded server, migrations and the job store."""
