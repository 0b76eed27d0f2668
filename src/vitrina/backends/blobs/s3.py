"""Image files in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph).

A PUT is atomic in S3: readers see the whole object or none. botocore's
errors become ours here: a missing object is NotFound, anything that stops
the store being reached is StorageUnavailable. Files are served by a
redirect to a presigned URL when the store is made with ``redirect_seconds``
(bootstrap decides, from the settings), else streamed through ``read``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vitrina import metrics
from vitrina.domain.errors import NotFound, StorageUnavailable
from vitrina.domain.values import BlobEntry, Serving

S3_INSTALL = "pip install 'vitrina[s3]'  (or: pip install boto3)"
_CHUNK = 256 * 1024


def _boto() -> Any:
    try:
        import boto3
        import botocore.config
    except ImportError:
        raise StorageUnavailable(
            f"S3 storage needs boto3, which is not installed: {S3_INSTALL}"
        ) from None
    return boto3, botocore.config


_STREAMED = Serving()


class S3BlobStore:
    def __init__(
        self, client: Any, bucket: str, prefix: str = "", redirect_seconds: int = 0
    ) -> None:
        """``redirect_seconds``: serve files by a redirect to a presigned URL
        valid that long; 0 streams them through ``read``."""
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.redirect_seconds = redirect_seconds

    @classmethod
    def connect(
        cls,
        url: str,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        redirect_seconds: int = 0,
    ) -> S3BlobStore:
        """A store for ``s3://BUCKET/PREFIX`` at ``endpoint_url`` (AWS when empty)."""
        boto3, config = _boto()
        parts = urlsplit(url)
        if not parts.netloc:
            raise StorageUnavailable("VITRINA_STORAGE_URL must name a bucket: s3://BUCKET/PREFIX")
        credentials = {}
        if access_key_id:
            credentials = {
                "aws_access_key_id": access_key_id,
                "aws_secret_access_key": secret_access_key,
            }
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            config=config.Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
            **credentials,
        )
        return cls(client, parts.netloc, parts.path, redirect_seconds)

    def _key(self, key: str) -> str:
        if ".." in key.split("/") or key.startswith("/"):
            raise NotFound("No such file")
        return self.prefix + key

    def _call(self, action: str, func: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return func(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound("No such file") from None
            metrics.blob_errors.labels(action).inc()
            raise StorageUnavailable(
                f"The object store {self._where} refused to {action}: {code}"
            ) from None
        except BotoCoreError as exc:
            metrics.blob_errors.labels(action).inc()
            raise StorageUnavailable(
                f"The object store {self._where} could not {action}: {type(exc).__name__}"
            ) from None

    @property
    def _where(self) -> str:
        return f"at {self.client.meta.endpoint_url} (bucket {self.bucket})"

    def ping(self) -> None:
        self._call("find the bucket", self.client.head_bucket)

    def put(self, key: str, data: bytes | Path, content_type: str) -> None:
        if isinstance(data, Path):
            try:
                body = data.open("rb")
            except OSError as exc:
                raise StorageUnavailable(f"Cannot read a file to store: {exc.strerror}") from None
            with body:
                self._put(key, body, content_type)
        else:
            self._put(key, data, content_type)

    def scratch_folder(self, key: str) -> Path | None:
        return None  # a file is uploaded from wherever it is

    def place(self, key: str, path: Path, content_type: str) -> None:
        """An upload of ``path`` (streamed, as ``put``), then ``path`` is removed."""
        self.put(key, path, content_type)
        path.unlink(missing_ok=True)

    def _put(self, key: str, body: Any, content_type: str) -> None:
        self._call(
            "store a file",
            self.client.put_object,
            Key=self._key(key),
            Body=body,
            ContentType=content_type,
            CacheControl="public, max-age=31536000, immutable",
        )

    def serving(self, key: str) -> Serving:
        """A presigned URL, signed here (SigV4 over the key and the expiry: no
        request is made); or, when the store does not redirect, streamed."""
        name = self._key(key)
        if not self.redirect_seconds:
            return _STREAMED
        from botocore.exceptions import BotoCoreError

        try:
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": name},
                ExpiresIn=self.redirect_seconds,
            )
        except BotoCoreError as exc:  # no credentials to sign with, say
            metrics.blob_errors.labels("sign a file URL").inc()
            raise StorageUnavailable(
                f"The object store {self._where} could not sign a file URL: {type(exc).__name__}"
            ) from None
        return Serving(url=url, seconds=self.redirect_seconds)

    def read(self, key: str) -> Iterator[bytes]:
        answer = self._call("read a file", self.client.get_object, Key=self._key(key))
        body = answer["Body"]
        try:
            yield from body.iter_chunks(_CHUNK)
        finally:
            body.close()

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self._call(
                "delete files",
                self.client.delete_objects,
                Delete={"Objects": batch, "Quiet": True},
            )

    def list(self) -> Iterator[BlobEntry]:
        token: dict[str, str] = {}
        while True:
            page = self._call(
                "list files", self.client.list_objects_v2, Prefix=self.prefix, **token
            )
            for item in page.get("Contents", ()):
                yield BlobEntry(
                    key=item["Key"][len(self.prefix) :],
                    size=item["Size"],
                    modified=item["LastModified"],
                )
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}
