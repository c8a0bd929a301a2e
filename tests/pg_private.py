"""A private PostgreSQL server for tests that stop and start the database.

The shared test server (127.0.0.1:5432, tests/conftest.py) must stay up for everyone
else; a test of a database outage runs its own: ``initdb`` into a temporary directory,
a free port on 127.0.0.1 with trust authentication, one database with PostGIS, and
:meth:`PrivatePostgres.stop` / :meth:`PrivatePostgres.start` on the same port and data
directory as often as the test likes. Everything is removed at the end.

When the tests run as root (CI, these machines) the server runs as the ``postgres`` OS
user (PostgreSQL refuses to run as root), through ``runuser``; the data directory is
created outside pytest's (root-only) temporary tree and handed to that user.

Without the PostgreSQL binaries the tests using it skip, saying how to install them; in
CI (``CI`` or ``LOCATOR_TEST_REQUIRE_PG`` set) they fail instead
(:func:`conftest.pg_unavailable`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: Where Debian's PostgreSQL 15 keeps its server binaries (override with
#: LOCATOR_TEST_PG_BINDIR).
DEFAULT_BINDIR = "/usr/lib/postgresql/15/bin"
#: The OS user the server runs as when the tests run as root.
SERVER_USER = "postgres"


def find_bindir() -> tuple[Path | None, str]:
    """The directory with ``initdb`` and ``pg_ctl``, or None and why not."""
    bindir = Path(os.environ.get("LOCATOR_TEST_PG_BINDIR") or DEFAULT_BINDIR)
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (bindir / b).is_file()]
    if missing:
        return None, (f"the private PostgreSQL server needs {', '.join(missing)} in {bindir}: "
                      "apt-get install postgresql-15 postgresql-15-postgis-3 (or set "
                      "LOCATOR_TEST_PG_BINDIR to a PostgreSQL bin directory)")
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return None, (f"running as root, the private PostgreSQL server needs the OS user "
                          f"{SERVER_USER!r} to run as (PostgreSQL refuses root); the "
                          "postgresql package creates it")
        if shutil.which("runuser") is None:
            return None, "running as root, the private PostgreSQL server needs runuser"
    return bindir, ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """One PostgreSQL server of the test's own (see the module docstring).

    Use :func:`private_postgres` (which skips, or fails in CI, when it cannot run) or::

        with PrivatePostgres(bindir) as pg:
            url = pg.create_database("outage", postgis=True)
            pg.stop()
            pg.start()
    """

    def __init__(self, bindir: Path, *, port: int | None = None):
        self.bindir = bindir
        self.port = port or free_port()
        self._as_server_user = os.geteuid() == 0
        # Not under pytest's tmp_path: that tree is root-only, and the server runs as
        # another user when the tests run as root.
        self.root = Path(tempfile.mkdtemp(prefix="locator-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if self._as_server_user:
            import pwd

            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.running = False
        self._initdb()

    # -------------------------------------------------------------- processes
    def _run(self, *args: str, timeout: float = 120, check: bool = True
             ) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_server_user:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, cwd=self.root)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}): "
                               f"{out.stderr.strip() or out.stdout.strip()}\n{self.log_tail()}")
        return out

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--username=postgres",
                  "--encoding=UTF8", "--locale=C", "--no-sync")
        # Only TCP on loopback, this port; the socket in the data directory (never the
        # system's /var/run/postgresql); small and fast: the data is thrown away.
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(f"\n# tests/pg_private.py\nlisten_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\nunix_socket_directories = '{self.data}'\n"
                    "max_connections = 60\nshared_buffers = 32MB\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    "logging_collector = off\n")

    def start(self, *, timeout: float = 60) -> None:
        """Start the server (same data directory and port as before) and wait until it
        accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(int(timeout)), "start", timeout=timeout + 10)
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back open transactions, disconnect everyone,
        shut down cleanly) or ``immediate`` (abort, recovery at the next start)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"mode {mode!r}; must be one of smart, fast, immediate")
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", timeout=70)
        self.running = False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -------------------------------------------------------------- databases
    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, postgis: bool = True) -> str:
        """A new database ``name`` (with the postgis extension when asked); its URL."""
        import sqlalchemy as sa

        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        if postgis:
            eng = sa.create_engine(self.url(name))
            try:
                with eng.begin() as conn:
                    conn.execute(sa.text("CREATE EXTENSION postgis"))
            finally:
                eng.dispose()
        return self.url(name)

    # -------------------------------------------------------------- clean-up
    def close(self) -> None:
        """Stop the server (if running) and remove its directory."""
        if self.running or (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def private_postgres() -> PrivatePostgres:
    """A new, started :class:`PrivatePostgres`; the caller closes it. Skips with the
    reason (fails in CI) when the server cannot be made here."""
    from conftest import pg_unavailable

    bindir, why = find_bindir()
    if bindir is None:
        pg_unavailable(why)
    assert bindir is not None
    pg = PrivatePostgres(bindir)
    try:
        pg.start()
    except BaseException:
        pg.close()
        raise
    return pg


def postgis_installed(bindir: Path) -> bool:
    """Whether the PostgreSQL of ``bindir`` has the postgis extension to create."""
    try:
        share = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True,
                               text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        share = "/usr/share/postgresql/15"
    return (Path(share) / "extension" / "postgis.control").is_file()
