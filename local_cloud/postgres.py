"""Debian's PostgreSQL for the tests and the kill drill: a throwaway cluster on 127.0.0.1 (a free
port, trust authentication), where several processes write at once - Airflow's scheduler, triggerer,
API server and CLI, MLflow - which SQLite, the laptop default, serializes or refuses."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """Debian's PostgreSQL in a temporary directory owned by ``postgres`` (it refuses to run as
    root), on 127.0.0.1 only, trust authentication; :meth:`stop` removes it all."""

    def __init__(self, databases: tuple[str, ...] = ("airflow", "mlflow")):
        self.databases = databases
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            raise RuntimeError("no PostgreSQL: apt-get install postgresql (make drill and make test do)")
        self.bin = Path(bins[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.started = False

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.as_postgres, *args], capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=300 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self.started = True
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                for db in self.databases:
                    cur.execute(f"CREATE DATABASE {db}")
        finally:
            conn.close()

    def url(self, db: str, driver: str = "") -> str:
        return f"postgresql{driver}://postgres@127.0.0.1:{self.port}/{db}"

    def query(self, db: str, sql: str, *args) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(self.url(db))
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.started:
            subprocess.run([*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                           capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
