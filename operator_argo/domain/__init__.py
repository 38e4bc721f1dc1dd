"""The pure core: jobs, environments, statuses, errors and the ports adapters implement."""
