"""What follows a committed write, in one place.

Every write of the metadata store returns its ``Consequences``
(vitrina.domain.values): the blob
keys nothing points at any more, the async uploads nothing waits for any
more, the stores whose catalogs changed, and the changes themselves (the
events the webhooks deliver). ``follow`` carries them out after the commit
(cancels those jobs, deletes those blobs and their renditions), and nothing
else does; the web
layer also refreshes its read caches of the stores (web/operation.py,
``Call.settle``).

Nothing here can be lost for good: a blob left behind is swept
(``images.sweep``), a job left queued finds its image gone and ends as
superseded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vitrina.domain.errors import VitrinaError
from vitrina.domain.renditions import rendition_keys
from vitrina.domain.values import Consequences

if TYPE_CHECKING:
    from vitrina.bootstrap import Services

log = logging.getLogger("vitrina.consequences")


def follow(services: Services, done: Consequences) -> None:
    """Carry out what follows a commit. Quietly: what fails here is retried
    by the sweep and the worker, so it never fails the write that caused it."""
    if done.abandoned:
        try:
            cancelled = services.metadata.jobs.cancel_jobs(done.abandoned)
        except VitrinaError as exc:
            log.warning("could not cancel the jobs of %d images now: %s", len(done.abandoned), exc)
        else:
            if cancelled:
                log.info("cancelled %d async uploads nothing waits for", cancelled)
    if done.orphans:
        widths = services.delivery.widths
        doomed = [*done.orphans, *(r for k in done.orphans for r in rendition_keys(k, widths))]
        try:
            services.blobs.delete(doomed)
        except VitrinaError as exc:
            log.warning(
                "could not delete %d unreferenced files now (%s); the sweep will",
                len(done.orphans),
                exc,
            )
