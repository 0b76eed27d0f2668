"""Start-up and readiness against back ends that are missing or unreachable:
a clear one-line error, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.services import Postgres
from vitrina.bootstrap import build_services
from vitrina.settings import Settings
from vitrina.web.app import create_app


def vitrina(
    tmp_path: Path, *args: str, hide: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, optionally with a module made unimportable."""
    prelude = f"import sys; sys.modules[{hide!r}] = None; " if hide else "import sys; "
    code = prelude + f"from vitrina.cli import main; sys.exit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "VITRINA_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unreachable_database(tmp_path: Path) -> None:
    done = vitrina(tmp_path, "migrate", VITRINA_DATABASE_URL="postgresql://app:pw@127.0.0.1:1/db")
    assert done.returncode == 2
    assert (
        "Cannot reach the metadata database postgresql+psycopg://app:***@127.0.0.1:1/db"
        in done.stderr
    )
    assert "Traceback" not in done.stderr and "pw@" not in done.stderr


def test_missing_postgres_driver_names_the_install_line(tmp_path: Path) -> None:
    done = vitrina(
        tmp_path, "migrate", hide="psycopg", VITRINA_DATABASE_URL="postgresql://app@127.0.0.1:1/db"
    )
    assert done.returncode == 2
    assert "pip install 'vitrina[postgres]'" in done.stderr


def test_missing_boto3_names_the_install_line(tmp_path: Path) -> None:
    done = vitrina(tmp_path, "gc", hide="boto3", VITRINA_STORAGE_URL="s3://bucket/prefix")
    assert done.returncode == 2
    assert "pip install 'vitrina[s3]'" in done.stderr


def test_unreachable_bucket_stops_serve(tmp_path: Path) -> None:
    done = vitrina(
        tmp_path,
        "serve",
        "--port",
        "1",
        VITRINA_STORAGE_URL="s3://bucket/prefix",
        VITRINA_S3_ENDPOINT_URL="http://127.0.0.1:1",
        VITRINA_S3_ACCESS_KEY_ID="k",
        VITRINA_S3_SECRET_ACCESS_KEY="s",
    )
    assert done.returncode == 2
    assert (
        "object store at http://127.0.0.1:1 (bucket bucket) could not find the bucket"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_readyz_fails_when_the_database_goes_away(tmp_path: Path, postgres: Postgres) -> None:
    with postgres.database() as url:
        settings = Settings(data_dir=tmp_path, database_url=url, run_jobs=False)
        services = build_services(settings)
        with TestClient(create_app(settings, services)) as client:
            assert client.get("/readyz").status_code == 200
            services.close()
            import sqlalchemy as sa

            admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            admin.dispose()
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["errorCode"] == "SERVICE_UNAVAILABLE"
