"""Job worker processes started next to the server, so one machine needs nothing else running."""

from __future__ import annotations

import os
import subprocess
import sys

from flywheel.settings import Settings


class LocalWorkers:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = {**os.environ, "FLYWHEEL_DATA_DIR": str(self.settings.data_dir)}
        if self.settings.db_url:
            env["FLYWHEEL_DB_URL"] = self.settings.db_url
        for _ in range(self.count):
            self.procs.append(subprocess.Popen([sys.executable, "-m", "flywheel.cli", "worker"], env=env))

    def stop(self, timeout: float = 10.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()
