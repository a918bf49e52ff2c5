"""Debian's PostgreSQL for the tests and benchmarks: a real server, in a temporary folder, on loopback.

``running_postgres()`` makes a cluster with ``initdb`` (trust authentication, but for one role that
must give its password, ``PASSWORD_ROLE``; no fsync: a test's data need not survive a crash),
starts it with ``pg_ctl`` on a free 127.0.0.1 port and stops it and removes the folder when the
block ends. PostgreSQL refuses to run as root, so as root every command runs as the package's
``postgres`` user (``runuser``), and the folder is given to it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scripts.serve import free_port

USER = "postgres"  # the package's user, who runs the server, and the cluster's superuser
# The one role that must give a password (scram-sha-256), for the tests of real credentials; every
# other connection is trusted.
PASSWORD_ROLE = "digits_app"
PASSWORD = "the-right-password"


def bin_dir() -> Path | None:
    """The folder of Debian's ``initdb`` and ``pg_ctl`` (the newest installed version), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@dataclass
class PostgresServer:
    """A running server: ``url(name)`` is the ``postgresql://`` URL of its database ``name``."""

    folder: Path
    port: int
    bin: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def password_url(self, password: str = PASSWORD, database: str = "postgres") -> str:
        """The URL of ``database`` as ``PASSWORD_ROLE``, which must give its password (``PASSWORD``)."""
        return f"postgresql://{PASSWORD_ROLE}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database of its own for one test; its URL."""
        name = f"test_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser; what it printed (unaligned, tuples only)."""
        done = _run(
            [self.bin / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(database), "-c", sql]
        )
        return done.stdout.strip()

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed); ``start`` brings it back."""
        _run([self.bin / "pg_ctl", "-D", self.folder / "data", "-m", "fast", "-w", "stop"])

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = self.folder / "server.log"
        _run([self.bin / "pg_ctl", "-D", self.folder / "data", "-l", log, "-o", options, "-w", "-t", "30", "start"])

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server started for the block and stopped after it. Raises ``FileNotFoundError``
    when Debian's package is not installed (``apt-get install postgresql``)."""
    binaries = bin_dir()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's server is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="digits-postgres-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        _run([binaries / "initdb", "-D", folder / "data", "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
        hba = folder / "data" / "pg_hba.conf"
        # Rewritten in place, so it keeps its owner; the first line that matches a connection decides.
        hba.write_text(f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        server = PostgresServer(folder, free_port(), binaries)
        server.start()
        server.psql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(argv: list) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program, as the ``postgres`` user when we are root; raise with its output if it fails."""
    command = [str(a) for a in argv]
    if os.geteuid() == 0:
        command = ["runuser", "-u", USER, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, cwd="/", env={**os.environ, "LC_ALL": "C"})
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
    return done
