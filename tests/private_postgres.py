"""A PostgreSQL server of a test's own, on loopback, that the test may stop and start (fault drills).

The shared server of the suite (MARKETPLACE_TEST_POSTGRES_URL) must keep running for every other test, so a
drill that restarts PostgreSQL gets its own cluster: initdb in the test's folder, a free loopback port, the
server run as the `postgres` user when the suite runs as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import skip_or_fail
from tests.lti.servers import unused_port


def _bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name)
                        if path.parent.name.isdigit() else 0)
    return candidates[-1] if candidates else None


class PrivatePostgres:
    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.bin_dir = bin_dir
        self.port = unused_port()
        self.as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.data.mkdir()
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.data, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-o",
                  f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        skip_or_fail("PostgreSQL server binaries are not installed (Debian package postgresql)")
        raise AssertionError  # unreachable: skip_or_fail raises
    # Not under pytest's tmp_path: as root that folder is closed to the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="marketplace-pg-"))
    server = PrivatePostgres(folder, bin_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by the test
        shutil.rmtree(folder, ignore_errors=True)
