"""A throwaway PostgreSQL server for the tests, started from the machine's binaries (Debian package ``postgresql``).

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user (``runuser``); the data
directory lives in a temp dir that user can read, the server listens on a free port of 127.0.0.1 with fsync off.
When ``TIDEMARK_PG_DSN`` is set, that server is used instead and nothing is started.

    server = PgServer.start()        # or PgServer.external(dsn)
    name = server.create_database()  # a fresh, empty database per test; server.dsn(name) to connect
    server.drop_database(name)
    server.stop()
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ENV_DSN = "TIDEMARK_PG_DSN"
#: on a server started here, roles in this group log in with a password (everyone else: trust)
PASSWORD_GROUP = "tm_password_users"


class PgServerError(RuntimeError):
    pass


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` holding initdb and pg_ctl (or the ones on PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for d in candidates:
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server and an admin DSN (a superuser or a role with CREATEDB) on its ``postgres`` database."""

    admin_dsn: str
    datadir: Path | None = None  # set when this process started the server
    bindir: Path | None = None
    databases: list[str] = field(default_factory=list)

    @classmethod
    def external(cls, dsn: str) -> PgServer:
        return cls(admin_dsn=dsn)

    @classmethod
    def start(cls) -> PgServer:
        bindir = find_bindir()
        if bindir is None:
            raise PgServerError(
                "PostgreSQL server binaries not found (initdb, pg_ctl): run `apt-get install postgresql` "
                f"(scripts/test does), or set {ENV_DSN} to a server where the tests may create databases, "
                "or deselect these tests with -m 'not postgres'"
            )
        root = Path(tempfile.mkdtemp(prefix="tidemark-pg-"))
        root.chmod(0o755)
        datadir = root / "data"
        as_user = _runas_prefix()
        if as_user:
            shutil.chown(root, user="postgres", group="postgres")
        port = free_port()
        server = cls(admin_dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir=datadir, bindir=bindir)
        initdb = [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        _run([*as_user, *initdb, "--no-sync", "--locale=C.UTF-8"])
        hba = datadir / "pg_hba.conf"  # members of PASSWORD_GROUP must give a password (tests of bad passwords)
        hba.write_text(f"host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        log = root / "server.log"
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "-t", "60", "-o", options]
        _run([*as_user, *pg_ctl, "start"], log=log)
        return server

    def stop(self) -> None:
        """Stop a server this process started and remove its files (an external server is left alone)."""
        if self.datadir is None or self.bindir is None:
            for name in list(self.databases):
                self.drop_database(name)
            return
        subprocess.run(
            [*_runas_prefix(), str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)
        self.datadir = None

    # -- databases ----------------------------------------------------------------------------------------------
    def create_database(self) -> str:
        """Create an empty database; return its name (:meth:`dsn` gives its DSN)."""
        import psycopg
        from psycopg import sql

        name = f"tm_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.databases.append(name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database made by :meth:`create_database` (by name), closing its connections first."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self.databases:
            self.databases.remove(name)

    def dsn(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        """The admin DSN pointed at another database (and optionally another user)."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        if user is not None:
            params["user"] = user
            params.pop("password", None)
        if password is not None:
            params["password"] = password
        info = make_conninfo(**{k: str(v) for k, v in params.items()})
        return _as_url(info)


def _as_url(conninfo: str) -> str:
    """``host=... port=...`` -> ``postgresql://user:pw@host:port/db`` (the form users pass to ``--sink``)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    auth = quote(p.pop("user", ""), safe="")
    if "password" in p:
        auth += ":" + quote(p.pop("password"), safe="")
    host = p.pop("host", "127.0.0.1")
    port = p.pop("port", "5432")
    db = quote(p.pop("dbname", "postgres"), safe="")
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in p.items())
    return f"postgresql://{auth + '@' if auth else ''}{host}:{port}/{db}" + (f"?{query}" if query else "")


def _runas_prefix() -> list[str]:
    """initdb/pg_ctl refuse root: run them as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PgServerError("running as root and `runuser` is missing: cannot start PostgreSQL as user postgres")
    return ["runuser", "-u", "postgres", "--"]


def _run(cmd: list[str], log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise PgServerError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{tail}")
