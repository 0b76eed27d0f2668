"""The metadata store on SQL (SQLite or PostgreSQL): its roles composed
over one database, each a narrow seam of its own (domain/seams.py):

    stores    stores and tokens        (sql_stores)
    catalog   categories               (sql_catalog)
    images    image files and pointers (sql_images)
    jobs      async uploads            (sql_jobs)
    requests  the request log          (sql_requests)
    signins   console sign-in codes    (sql_signin)
    batches   batch tickets            (sql_batches)
    apps      a store's apps           (sql_apps)
    installs  OAuth install, app pages (sql_installs)
    webhooks  the outbox's deliveries  (sql_webhooks)
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from vitrina.backends.metadata import migrate
from vitrina.backends.metadata.sql_apps import SqlApps
from vitrina.backends.metadata.sql_base import SqlDatabase
from vitrina.backends.metadata.sql_batches import SqlBatches
from vitrina.backends.metadata.sql_catalog import SqlCatalog
from vitrina.backends.metadata.sql_dump import SqlDump
from vitrina.backends.metadata.sql_images import SqlImages
from vitrina.backends.metadata.sql_installs import SqlInstalls
from vitrina.backends.metadata.sql_jobs import SqlJobs
from vitrina.backends.metadata.sql_requests import SqlRequestLog
from vitrina.backends.metadata.sql_signin import SqlSignIns
from vitrina.backends.metadata.sql_stores import SqlStores
from vitrina.backends.metadata.sql_webhooks import SqlWebhooks
from vitrina.domain.values import TableDump


class SqlMetadataStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.db = SqlDatabase(engine)
        self.stores = SqlStores(self.db)
        self.catalog = SqlCatalog(self.db)
        self.images = SqlImages(self.db)
        self.jobs = SqlJobs(self.db)
        self.requests = SqlRequestLog(self.db)
        self.signins = SqlSignIns(self.db)
        self.apps = SqlApps(self.db)
        self.webhooks = SqlWebhooks(self.db)
        self.batches = SqlBatches(self.db)
        self.installs = SqlInstalls(self.db)

    def ping(self) -> None:
        self.db.ping()

    def schema_revision(self) -> str:
        return migrate.current(self.db.engine) or ""

    def dump(self, folder: Path) -> TableDump:
        return SqlDump(self.db).dump(folder)

    def check_dump(self, dump: TableDump) -> None:
        SqlDump(self.db).check(dump)

    def load(self, folder: Path, dump: TableDump) -> None:
        SqlDump(self.db).load(folder, dump)

    def close(self) -> None:
        self.db.close()
