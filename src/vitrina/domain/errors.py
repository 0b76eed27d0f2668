"""The one error tree. Each class carries its HTTP status and ``errorCode``;
one handler in the web layer renders every one of them as
``{"errorMessage": ..., "errorCode": ...}``.

    VitrinaError (500 INTERNAL_ERROR)
    ├── BadRequest (400 WRONG_PARAMETER)
    │   └── WrongNumber
    ├── InvalidToken (403 INVALID_API_TOKEN)
    ├── InsufficientScope (403 INSUFFICIENT_APP_SCOPE)
    ├── NotFound (404 NOT_FOUND)
    │   └── CategoryNotFound (404 CATEGORY_NOT_FOUND)
    ├── MethodNotAllowed (405 METHOD_NOT_ALLOWED)
    ├── ConstraintViolation (409 CONSTRAINT_VIOLATION)
    ├── PayloadTooLarge (413 PAYLOAD_TOO_LARGE)
    │   └── ImageTooBig (413 INCORRECT_IMAGE_SIZE)
    ├── UnsupportedMediaType (415 UNSUPPORTED_MEDIA_TYPE)
    │   └── UnsupportedImageFormat (an image this server has no decoder for)
    ├── InvalidImage (422 INVALID_IMAGE)
    ├── ImageTooLarge (422 IMAGE_TOO_LARGE)
    ├── WrongUrl (422 WRONG_URL)
    ├── DownloadFailed (422 IMAGE_DOWNLOAD_FAILED)
    ├── RateLimited (429 RATE_LIMITED, with Retry-After)
    │   └── QueueFull (a store's async uploads waiting)
    ├── RequestInterrupted (500 REQUEST_INTERRUPTED: a batch's request cut short)
    └── Unavailable (503 SERVICE_UNAVAILABLE)
        ├── MetadataUnavailable
        ├── StorageUnavailable
        └── Overloaded (with Retry-After)

Back ends translate their libraries' exceptions into these at their edge.
"""

from __future__ import annotations


class VitrinaError(Exception):
    status = 500
    code = "INTERNAL_ERROR"
    default_message = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(VitrinaError):
    status = 400
    code = "WRONG_PARAMETER"
    default_message = "Wrong parameter"


class WrongNumber(BadRequest):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Wrong numeric parameter '{name}' value: not a number or a number out of range"
        )


class InvalidToken(VitrinaError):
    status = 403
    code = "INVALID_API_TOKEN"
    default_message = "API token is missing, unknown or revoked, or belongs to another store"


class InsufficientScope(VitrinaError):
    status = 403
    code = "INSUFFICIENT_APP_SCOPE"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This request needs the '{scope}' scope, which the token does not have")


class SecretTokenRequired(VitrinaError):
    status = 403
    code = "INSUFFICIENT_APP_SCOPE"
    default_message = "This needs a secret token; a public token cannot use it"


class NotFound(VitrinaError):
    status = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class CategoryNotFound(NotFound):
    code = "CATEGORY_NOT_FOUND"

    def __init__(self, category_id: int) -> None:
        super().__init__(f"Category #{category_id} not found")


class MethodNotAllowed(VitrinaError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed"


class ConstraintViolation(VitrinaError):
    status = 409
    code = "CONSTRAINT_VIOLATION"


class PayloadTooLarge(VitrinaError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Request body is too large"


class ImageTooBig(PayloadTooLarge):
    code = "INCORRECT_IMAGE_SIZE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The image is larger than the limit of {limit} bytes")


class UnsupportedMediaType(VitrinaError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "The request body must be JSON (Content-Type: application/json)"


class UnsupportedImageFormat(UnsupportedMediaType):
    """An image in a format that needs an optional decoder this server lacks
    (HEIC without ``vitrina[heic]``): the message names what to install."""


class InvalidImage(VitrinaError):
    status = 422
    code = "INVALID_IMAGE"


class ImageTooLarge(VitrinaError):
    status = 422
    code = "IMAGE_TOO_LARGE"


class WrongUrl(VitrinaError):
    status = 422
    code = "WRONG_URL"


class DownloadFailed(VitrinaError):
    status = 422
    code = "IMAGE_DOWNLOAD_FAILED"


class TimedOut(DownloadFailed):
    """A request found no connection, or no complete answer, in time."""


class RateLimited(VitrinaError):
    status = 429
    code = "RATE_LIMITED"
    retry_after: int

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many requests for this token; retry in {retry_after} seconds")


class QueueFull(RateLimited):
    """A store has as many async uploads waiting as it may have."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(retry_after)
        self.message = message
        self.args = (message,)


class ClaimLost(VitrinaError):
    """A worker's claim on an async upload ran out and a newer claim runs
    the job: this one stops, touching nothing of it."""

    default_message = "The claim on this job was lost to another worker"


class RequestInterrupted(VitrinaError):
    """A batch's request whose worker stopped (was killed) after starting it
    and before recording its answer: it is not run again, since it may have
    taken effect (docs/differences.md, Batch requests)."""

    code = "REQUEST_INTERRUPTED"
    default_message = (
        "The server running this request stopped before its answer was recorded; it may or "
        "may not have taken effect. Check before sending it again"
    )


class Unavailable(VitrinaError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable"


class MetadataUnavailable(Unavailable):
    default_message = "The metadata database is not reachable"


class StorageUnavailable(Unavailable):
    default_message = "The file storage is not reachable"


class Overloaded(Unavailable):
    """Too many images are waiting to be processed; the answer carries
    ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"The server is busy processing other images; retry in {retry_after} seconds"
        )


def codes_by_status() -> dict[int, list[str]]:
    """Every errorCode of the tree, by HTTP status (for the OpenAPI document)."""
    found: dict[int, set[str]] = {}
    pending: list[type[VitrinaError]] = [VitrinaError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.status, set()).add(cls.code)
        pending.extend(cls.__subclasses__())
    return {status: sorted(codes) for status, codes in sorted(found.items())}
