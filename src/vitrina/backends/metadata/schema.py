"""The tables, as SQLAlchemy Core metadata. Alembic migrations create them;
this module is what the queries are written against."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("storefront_url", sa.Text, nullable=False),
    sa.Column("thumbnail_size", sa.Integer, nullable=False, server_default="400"),
    sa.Column("image_size", sa.Integer, nullable=False, server_default="1200"),
    # Bumped by every write to the store's categories or images; read caches
    # compare it to know whether their copy is current.
    sa.Column("catalog_version", sa.BigInteger, nullable=False, server_default="0"),
    # Enabled languages, comma-separated; the first is the default.
    sa.Column("languages", sa.Text, nullable=False, server_default="en"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "store_id",
        sa.Integer,
        sa.ForeignKey("stores.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("hint", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    # set on the session tokens a console sign-in code is exchanged for
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    # the app a token was issued to (OAuth install); deleting the app revokes it
    sa.Column("app_id", sa.Integer, index=True),
    # the OAuth code (its hash) the token was exchanged for: a second exchange
    # of that code revokes it
    sa.Column("grant_code", sa.String(64), index=True),
    sqlite_autoincrement=True,
)

# OAuth authorization codes: single-use, valid 10 minutes, bound to the app
# and the redirect URI of the authorize request; kept only as SHA-256 hashes.
oauth_codes = sa.Table(
    "oauth_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.Integer, nullable=False, index=True),
    sa.Column(
        "store_id", sa.Integer, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("scopes", sa.String(400), nullable=False),  # comma-separated, as granted
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("used_at", sa.DateTime(timezone=True)),
)

# Console sign-in codes (vitrina console-link, vitrina demo): single-use,
# short-lived, kept only as SHA-256 hashes; each is exchanged once for a
# session token (``token_id``) that expires.
signin_codes = sa.Table(
    "signin_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column(
        "store_id", sa.Integer, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("token_id", sa.Integer),
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "store_id", sa.Integer, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("parent_id", sa.Integer),
    sa.Column("order_by", sa.Integer, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("name_translated", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("description_translated", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("product_ids", sa.JSON, nullable=False),
    sa.Column("custom_slug", sa.String(255), nullable=False),
    sa.Column("seo_title", sa.Text, nullable=False),
    sa.Column("seo_title_translated", sa.JSON, nullable=False),
    sa.Column("seo_description", sa.Text, nullable=False),
    sa.Column("seo_description_translated", sa.JSON, nullable=False),
    sa.Column("alt_main", sa.Text, nullable=False),
    sa.Column("alt_translated", sa.JSON, nullable=False),
    sa.Column("image_external_id", sa.String(255)),
    sa.Column("image_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the store's catalog version of the last write that touched the category
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_categories_store_parent_order", "store_id", "parent_id", "order_by"),
    sa.Index("ix_categories_store_version", "store_id", "version"),
    sqlite_autoincrement=True,
)

# Requests per token per one-minute window, when the rate limit is shared by
# every process (VITRINA_RATE_LIMIT_SHARED); older windows are dropped.
rate_counts = sa.Table(
    "rate_counts",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("window", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer, nullable=False),
)

# Categories deleted, by the catalog version that deleted them: what a read
# cache needs to patch its copy instead of reloading the store. Rows older
# than CHANGES_KEPT versions are pruned; a copy that old is reloaded whole.
catalog_deletions = sa.Table(
    "catalog_deletions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("store_id", sa.Integer, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("category_id", sa.Integer, nullable=False),
    sa.Index("ix_catalog_deletions_store_version", "store_id", "version"),
    sqlite_autoincrement=True,
)

# One row: the next free file id. Ids are handed out in blocks, never reused.
file_ids = sa.Table(
    "file_ids",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("next_id", sa.BigInteger, nullable=False),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("store_id", sa.Integer, nullable=False),
    sa.Column("category_id", sa.Integer, nullable=False, index=True),
    sa.Column("border", sa.JSON),
    sa.Column("pending_url", sa.Text),
    sa.Column("pending_width", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pending_height", sa.Integer, nullable=False, server_default="0"),
    sa.Column("previous_image_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("image_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("store_id", sa.Integer, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("ext", sa.String(8), nullable=False),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(80), nullable=False),
    # What the upload was made from: a digest of its bytes and of how they
    # were processed (category_images.source_digest); null when not known.
    sa.Column("source", sa.String(64)),
    # The file whose stored bytes this one shows (an identical upload's,
    # stored once); null: its own, under its own key.
    sa.Column("blob_id", sa.BigInteger, index=True),
    sa.Index("ix_files_store_source", "store_id", "source"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", sa.Integer, nullable=False),
    sa.Column("category_id", sa.Integer, nullable=False),
    sa.Column("image_id", sa.BigInteger, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("worker", sa.String(100)),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("request_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the claim: each store's oldest due job, and the stores with jobs waiting
    sa.Index("ix_jobs_queue", "state", "store_id", "run_at", "id"),
    sa.Index("ix_jobs_lease", "state", "lease_until"),  # leases that ran out
    sa.Index("ix_jobs_finished", "state", "updated_at"),  # pruning finished jobs
    sa.Index("ix_jobs_image", "store_id", "image_id"),  # GET /_jobs/{imageId}
    sqlite_autoincrement=True,
)

# The last API requests to each store (the console's request log): bounded,
# pruned as it grows. Never a token, an Authorization header or a body.
request_log = sa.Table(
    "request_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("store_id", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("path", sa.String(2000), nullable=False),
    sa.Column("query", sa.String(2000), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("error_code", sa.String(40), nullable=False),
    sa.Index("ix_request_log_store_id", "store_id", "id"),
    sqlite_autoincrement=True,
)

# A store's apps (webhooks now, OAuth install and native-app pages next). The
# client secret signs webhooks and keys native-app payloads, so it is kept,
# not only its hash (docs/security.md says how it is protected).
apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "store_id",
        sa.Integer,
        sa.ForeignKey("stores.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False, unique=True),
    sa.Column("client_secret", sa.String(128), nullable=False),
    sa.Column("scopes", sa.String(400), nullable=False),  # comma-separated
    sa.Column("webhook_url", sa.Text, nullable=False, server_default=""),
    sa.Column("events", sa.String(400), nullable=False, server_default=""),  # empty: all
    sa.Column("redirect_uri", sa.Text, nullable=False, server_default=""),
    sa.Column("iframe_url", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),  # gone, but for its uninstall event
    sa.Column("installed_at", sa.DateTime(timezone=True)),  # by OAuth; None: not installed
    sqlite_autoincrement=True,
)

# The outbox: one row per event, written in the transaction of the change it
# tells of, and one delivery per app that wants it, delivered by leased rows.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    # a UUID, made when the event is; not indexed (nothing looks an event up
    # by it, and a random key costs its index a page per write)
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("store_id", sa.Integer, nullable=False),
    sa.Column("entity_id", sa.BigInteger, nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("created", sa.BigInteger, nullable=False),  # unix seconds: eventCreated
    sqlite_autoincrement=True,
)

# The condition of the partial index below, spelled as the pruning spells
# its own: SQLite uses such an index only for a query with the same terms,
# constants included.
FINISHED = sa.text("state IN ('delivered', 'failed')")

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("event", sa.BigInteger, nullable=False),  # webhook_events.id
    sa.Column("app_id", sa.Integer, nullable=False),
    sa.Column("store_id", sa.Integer, nullable=False),
    # pending (due at due_at), sending (leased), delivered, failed (out of attempts)
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("worker", sa.String(100)),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # A new delivery (pending) enters only the first two, which are paid for
    # in the write that caused the event; the lease checks find the few rows
    # in flight through the first. The last holds only the finished rows,
    # for the pruning.
    sa.Index("ix_webhook_deliveries_queue", "state", "app_id", "due_at", "id"),
    sa.Index("ix_webhook_deliveries_app", "app_id", "id"),
    sa.Index(
        "ix_webhook_deliveries_finished",
        "state",
        "updated_at",
        sqlite_where=FINISHED,
        postgresql_where=FINISHED,
    ),
    sqlite_autoincrement=True,
)

# Every attempt of a delivery, as sent and as answered (the delivery log).
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("delivery", sa.BigInteger, nullable=False, index=True),
    sa.Column("app_id", sa.Integer, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.Integer),  # None: no answer
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("response", sa.Text, nullable=False, server_default=""),  # the first 2 KiB
    sa.Column("request_headers", sa.JSON, nullable=False),
    sa.Column("request_body", sa.Text, nullable=False),
    sa.Column("next_at", sa.DateTime(timezone=True)),
    sa.Index("ix_webhook_attempts_app", "app_id", "id"),
    sqlite_autoincrement=True,
)

# Batch requests: a ticket per batch, a row per request in it, run by leased
# rows (backends/metadata/sql_batches.py). Each request's answer is written
# as it comes; ``position`` is the first request without an outcome.
batch_tickets = sa.Table(
    "batch_tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "store_id", sa.Integer, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("token_hash", sa.String(64), nullable=False),  # who it runs as, who sees it
    sa.Column("state", sa.String(10), nullable=False),  # open, done
    sa.Column("stop_on_failure", sa.Boolean, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("completed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claims", sa.Integer, nullable=False, server_default="0"),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("turn_at", sa.DateTime(timezone=True), nullable=False),  # stores take turns by it
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("worker", sa.String(100)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    # the claim: each store's oldest open ticket
    sa.Index("ix_batch_tickets_queue", "state", "store_id", "id"),
    sa.Index("ix_batch_tickets_owner", "store_id", "token_hash", "id"),  # listing
    sa.Index("ix_batch_tickets_finished", "state", "finished_at"),  # pruning
    sqlite_autoincrement=True,
)

batch_items = sa.Table(
    "batch_items",
    metadata,
    sa.Column(
        "ticket_id",
        sa.Integer,
        sa.ForeignKey("batch_tickets.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("request_id", sa.JSON),  # the client's id, a string or a number
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("content_type", sa.String(60), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # waiting, done, skipped
    sa.Column("status", sa.Integer),
    sa.Column("answer", sa.Text),
    sa.Column("worker", sa.String(100)),  # the worker that answered it
    # when a write transaction of it committed (in that transaction)
    sa.Column("applied_at", sa.DateTime(timezone=True)),
    sa.Column("answered_at", sa.DateTime(timezone=True)),
)
