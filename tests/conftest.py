from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what starlette.testclient uses (httpx with it is deprecated)
import hypothesis
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.servers import ImageServer, image_server
from tests.services import S3, Postgres, postgres_server, seaweed_server
from vitrina import logs
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.backends.metadata import migrate
from vitrina.backends.metadata.engine import create_engine
from vitrina.bootstrap import Services, build_services, fetch_policy
from vitrina.domain.values import SCOPES
from vitrina.settings import Settings
from vitrina.usecases.tokens import create_token
from vitrina.usecases.upload_jobs import JobRunner
from vitrina.web.app import create_app

# Property tests have no time limit: on a shared, loaded machine an example
# that takes 0.3 ms once took 360 ms, and failed the run (no test here is timed).
hypothesis.settings.register_profile("untimed", deadline=None)
hypothesis.settings.load_profile("untimed")

# -- make test: the files with the longest tests go first ----------------------

# `make test` hands out whole files to its processes (pytest-xdist, --dist
# loadfile) in the order they are collected: these, each a minute or so of
# servers started and stopped, begin first, so that no process is left with
# one of them at the end while the others idle.
_LONGEST_FIRST = (
    "test_large_store.py",
    "test_scaleout.py",
    "test_soak.py",
    "test_openapi.py",
    "test_webhook_nodes.py",
    "test_batch_nodes.py",
    "test_mirror.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's own order is kept


# -- a command run in-process leaves logging as it found it ---------------------


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_LoggerState = tuple[logging.Logger, list[logging.Handler], bool, bool]


@pytest.fixture(scope="session", autouse=True)
def _logging_as_started() -> tuple[int, list[_LoggerState]]:
    """Logging as the session began, before any fixture of a wider scope
    (a module's, say) ran a command that set it up."""
    watched = [logging.getLogger(n) for n in _UVICORN_LOGGERS]
    return logging.getLogger().level, [
        (lg, list(lg.handlers), lg.propagate, lg.disabled) for lg in watched
    ]


@pytest.fixture(autouse=True)
def _logging_restored(_logging_as_started: tuple[int, list[_LoggerState]]) -> Iterator[None]:
    """``main([...])`` sets up logging for the process (logs.configure): a
    handler on the test's captured stderr, closed once the test ends, and
    the access lines written to it rather than as records. Take it away
    after each test, so a later test's lines reach its own capture."""
    yield
    if logs._handler is not None:
        logging.getLogger().removeHandler(logs._handler)
        logs._handler = None
    level, kept = _logging_as_started
    logging.getLogger().setLevel(level)
    for lg, its_handlers, propagate, disabled in kept:
        lg.handlers[:] = its_handlers
        lg.propagate, lg.disabled = propagate, disabled


# -- tests write only inside their temporary folders --------------------------

ROOT = Path(__file__).resolve().parent.parent
_NOT_WATCHED = {".venv", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}


def _repository_files() -> set[str]:
    found: set[str] = set()
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _NOT_WATCHED and d != "__pycache__"]
        found.update(os.path.relpath(os.path.join(folder, name), ROOT) for name in names)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = _repository_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test left a file in the repository (a test must write
    only under its tmp_path: an s3:// URL once became a folder named 's3:')."""
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    written = sorted(_repository_files() - before)
    if written:
        print(f"\nTests wrote files outside their temporary folders: {written[:10]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[str]]()


class Api:
    """A client for one store, the way an Ecwid app would call it."""

    def __init__(self, client: TestClient, store_id: int, token: str) -> None:
        self.client = client
        self.store_id = store_id
        self.token = token
        self.base = f"/api/v3/{store_id}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response: httpx.Response = self.client.request(
            method, self.base + path, headers=headers, **kwargs
        )
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, **fields: Any) -> int:
        response = self.post("/categories", json={"name": "Category", **fields})
        assert response.status_code == 200, response.text
        category_id: int = response.json()["id"]
        return category_id

    def category(self, category_id: int, **params: Any) -> dict[str, Any]:
        response = self.get(f"/categories/{category_id}", params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def upload(
        self, category_id: int, data: bytes | Iterator[bytes], **kwargs: Any
    ) -> httpx.Response:
        return self.post(f"/categories/{category_id}/image", content=data, **kwargs)


BACKENDS = ["embedded", pytest.param("scaled", marks=pytest.mark.slow)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses ``settings`` runs on SQLite + local files and on
    PostgreSQL + S3 (SeaweedFS), unless it is marked ``embedded_only``."""
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("embedded_only")
        metafunc.parametrize("backend", ["embedded"] if only else BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    with seaweed_server() as server:
        yield server


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The settings that pick the back ends."""
    if request.param == "embedded":
        yield {}
        return
    pg: Postgres = request.getfixturevalue("postgres")
    store: S3 = request.getfixturevalue("s3")
    with pg.database(migrated=True) as url:
        yield {"database_url": url, **store.settings(uuid.uuid4().hex)}


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, Any]) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        run_jobs=False,
        rate_limit_per_minute=0,
        public_url="http://testserver",
        files_redirect=False,  # in-process clients stream; test_files_redirect follows a 307
        **backend,
    )


_SQLITE_HEAD: list[Path] = []  # a SQLite database at the newest schema, made once


def _sqlite_at_head() -> Path:
    if not _SQLITE_HEAD:
        folder = Path(tempfile.mkdtemp(prefix="vitrina-head-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        engine = create_engine(f"sqlite:///{folder / 'head.db'}")
        migrate.upgrade(engine)
        engine.dispose()  # closed: the file holds everything, no log beside it
        _SQLITE_HEAD.append(folder / "head.db")
    return _SQLITE_HEAD[0]


def migrated_to(engine: sa.Engine, revision: str) -> None:
    """Bring a database to an older ``revision``, as it stood then (for
    tests of what a later migration does to the rows it finds)."""
    from alembic import command

    config = migrate._config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def migrated(settings: Settings) -> Services:
    """Services over a database brought to the newest schema, as serve does.
    A new SQLite database starts as a copy of one migrated once for the
    session (PostgreSQL's are copied too: ``backend``), which costs a
    fraction of running every migration; the upgrade then finds nothing to do."""
    url = settings.effective_database_url
    if url.startswith("sqlite:///") and not settings.database_url:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_sqlite_at_head(), path)
    built = build_services(settings)
    assert built.engine is not None
    migrate.upgrade(built.engine)
    return built


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = migrated(settings)
    yield built
    built.close()


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services), base_url="http://testserver") as test_client:
        yield test_client


def make_store(
    services: Services,
    client: TestClient,
    scopes: str = ",".join(SCOPES),
    public: bool = False,
    name: str = "Test store",
) -> Api:
    store = services.metadata.stores.create_store(name, "https://shop.example.com")
    token, _ = create_token(services.metadata, store.id, frozenset(scopes.split(",")), public)
    return Api(client, store.id, token)


@pytest.fixture
def api(services: Services, client: TestClient) -> Api:
    return make_store(services, client)


@pytest.fixture
def remote(tmp_path: Path, services: Services, settings: Settings) -> Iterator[ImageServer]:
    """An HTTPS image server on loopback that this test's fetcher may reach."""
    with image_server(tmp_path, images.jpeg(1600, 1200)) as server:
        allowed = settings.replace(
            fetch_allow_networks=("127.0.0.1/32",),
            fetch_ports=(server.port,),
            fetch_ca_bundle=str(server.ca_file),
            fetch_total_timeout=3.0,
        )
        services.fetcher = GuardedFetcher(
            fetch_policy(allowed, resolver=lambda h, p: [ipaddress.ip_address("127.0.0.1")])
        )
        yield server


def run_jobs(services: Services) -> int:
    """Run every due async-upload job now, retrying quickly."""
    return JobRunner(services, retry_base=0.01).run_until_idle()
