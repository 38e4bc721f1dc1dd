"""Where a local job's files live: its /data, its admin area, step results and pid files."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from operator_argo.domain.names import FILTER_FOLDER

# Folders of /data the algorithm sees (CONTRACT §8); configure creates them too, but the sandbox
# needs them to exist before it can bind them.
DATA_FOLDERS = ("inputs", "ddos", "transformations", "outputs", "logs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobLayout:
    """The directory tree of one job under `<data_dir>/jobs/<jobId>`."""

    root: Path

    @classmethod
    def for_job(cls, data_dir: Path, job_id: str) -> JobLayout:
        if not job_id or "/" in job_id or job_id in (".", ".."):
            raise ValueError(f"not a job id: {job_id!r}")
        return cls(root=data_dir.resolve() / "jobs" / job_id)

    @property
    def data(self) -> Path:
        """Mounted at /data in every step."""
        return self.root / "data"

    @property
    def admin(self) -> Path:
        """Mounted at /admin in configure and publish; the algorithm never sees it."""
        return self.root / "admin"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def result_file(self, step: str) -> Path:
        """Where `step` writes its JSON result (OPERATOR_RESULT_FILE)."""
        return self.results / f"{step}.json"

    def pid_file(self, step: str) -> Path:
        """Records the session of `step`'s process so a restarted operator can end leftovers."""
        return self.run / f"{step}.pid"

    @property
    def container_logs(self) -> Path:
        """What a pod's container log holds in Argo: the steps' stdout and stderr."""
        return self.root / "logs"

    def step_log(self, step: str) -> Path:
        """Where a step's stdout and stderr go, as a pod's container log would hold them. The
        steps write their published logs themselves (the algorithm's through `tee`, into
        data/logs), so their output is kept apart from those: the same file would get every
        line twice."""
        return self.container_logs / f"{step}.log"

    def create(self) -> None:
        for folder in DATA_FOLDERS:
            (self.data / folder).mkdir(parents=True, exist_ok=True)
        admin = (self.admin / "logs", self.admin / FILTER_FOLDER)
        for path in (*admin, self.results, self.run, self.container_logs):
            path.mkdir(parents=True, exist_ok=True)

    def pid_files(self) -> list[Path]:
        return sorted(self.run.glob("*.pid")) if self.run.is_dir() else []

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
