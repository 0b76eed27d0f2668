"""``vitrina mirror``: copy a catalogue between two Ecwid-compatible APIs (Ecwid
to vitrina, vitrina to vitrina): the tree, every writable field, and each
category's image. Source ids map to target ids in a state file; a re-run
changes only what changed, finding a changed image by its content hash.
Source images are downloaded under a size cap and a deadline, from public
addresses only unless allowed (see _downloads.py)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from vitrina import wire
from vitrina.client._calls import ApiError, NotFound
from vitrina.client._downloads import ANYWHERE, DownloadRefused, SourceImages, SourcePolicy
from vitrina.client._state import read_state, write_state
from vitrina.client._sync import Client
from vitrina.client.tree import Tree

__all__ = ["ANYWHERE", "DownloadRefused", "Mirror", "MirrorState", "SourceImages", "SourcePolicy"]

# The writable fields that are copied as they are (parentId is mapped).
COPIED = (
    "name",
    "nameTranslated",
    "description",
    "descriptionTranslated",
    "enabled",
    "orderBy",
    "customSlug",
    "seoTitle",
    "seoTitleTranslated",
    "seoDescription",
    "seoDescriptionTranslated",
    "productIds",
)


@dataclass
class Step:
    action: str  # create, update, image, delete-image, delete
    source: int | None
    target: int | None
    name: str
    detail: str = ""
    status: str = "planned"  # done, failed, planned
    reason: str = ""


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    def count(self, action: str, status: str | None = None) -> int:
        return sum(
            1 for s in self.steps if s.action == action and (status is None or s.status == status)
        )

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "steps": [
                {
                    "action": s.action,
                    "source": s.source,
                    "target": s.target,
                    "name": s.name,
                    "status": s.status,
                    "reason": s.reason or None,
                }
                for s in self.steps
            ]
        }


class MirrorState:
    """{source id: {target, image}} for one source and target, written after
    every change."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.ids: dict[str, dict[str, Any]] = read_state(path, key, "mirror")

    def target(self, source: int) -> int | None:
        entry = self.ids.get(str(source))
        return int(entry["target"]) if entry else None

    def set(self, source: int, **values: Any) -> None:
        self.ids.setdefault(str(source), {}).update(values)

    def forget(self, source: int) -> None:
        self.ids.pop(str(source), None)

    def save(self) -> None:
        write_state(self.path, self.key, self.ids)


def _fields(category: wire.Category) -> dict[str, Any]:
    built = msgspec.to_builtins(category)
    values = {name: built[name] for name in COPIED if name in built}
    alt = built.get("alt")
    if isinstance(alt, dict):
        values["alt"] = {"main": alt.get("main", ""), "translated": alt.get("translated", {})}
    return values


def _differs(wanted: dict[str, Any], current: wire.Category) -> bool:
    have = _fields(current)
    have["parentId"] = current.parentId if isinstance(current.parentId, int) else 0
    return any(have.get(name) != value for name, value in wanted.items())


class Mirror:
    def __init__(
        self,
        source: Client,
        target: Client,
        state: MirrorState,
        prune: bool,
        report: Callable[[Step], None] = lambda step: None,
        folder: Path | None = None,
        images: SourceImages | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.state = state
        self.prune = prune
        self.report = report
        self.folder = folder
        self.images = images or SourceImages()

    def close(self) -> None:
        """Nothing to close: each download has its own connection."""

    def _everything(self, client: Client) -> list[wire.Category]:
        return list(client.categories.search(hidden_categories=True, productIds=True))

    def run(self, dry_run: bool) -> Plan:
        plan = Plan()
        source = Tree(self._everything(self.source))
        target = Tree(self._everything(self.target))
        for source_id in source.depth_first():
            self._category(plan, source, target, source_id, dry_run)
        if self.prune:
            self._prune(plan, source, target, dry_run)
        return plan

    def _do(self, plan: Plan, step: Step, dry_run: bool, action: Callable[[], None]) -> None:
        plan.steps.append(step)
        if not dry_run:
            try:
                action()
                step.status = "done"
                self.state.save()
            except (ApiError, httpx.HTTPError, OSError) as exc:
                step.status, step.reason = "failed", str(exc)
        self.report(step)

    def _category(
        self, plan: Plan, source: Tree, target: Tree, source_id: int, dry_run: bool
    ) -> None:
        category = source.by_id[source_id]
        wanted = _fields(category)
        parent = source.parent_of(source_id)
        mapped_parent = self.state.target(parent) if parent else 0
        if parent and mapped_parent is None:
            mapped_parent = 0  # the parent failed or is planned: placed at the root for now
        wanted["parentId"] = mapped_parent or 0
        existing = self.state.target(source_id)
        if existing is None or existing not in target.by_id:
            step = Step("create", source_id, None, category.name)

            def create() -> None:
                created = self.target.categories.create(wanted)
                step.target = created
                self.state.set(source_id, target=created, image=None)

            self._do(plan, step, dry_run, create)
            if step.status != "done":
                if dry_run and isinstance(category.originalImageUrl, str):
                    planned = Step("image", source_id, None, category.name)
                    plan.steps.append(planned)
                    self.report(planned)
                return
            target_id = step.target
            assert target_id is not None
            current: wire.Category | None = None
        else:
            target_id = existing
            current = target.by_id[existing]
            if _differs(wanted, current):
                self._do(
                    plan,
                    Step("update", source_id, target_id, category.name),
                    dry_run,
                    lambda: self._update(target_id, wanted),
                )
        self._image(plan, category, target_id, current, dry_run)

    def _update(self, target_id: int, wanted: dict[str, Any]) -> None:
        self.target.categories.update(target_id, wanted)

    def _image(
        self,
        plan: Plan,
        category: wire.Category,
        target_id: int,
        current: wire.Category | None,
        dry_run: bool,
    ) -> None:
        url = category.originalImageUrl
        has_image = current is not None and isinstance(current.originalImageUrl, str)
        recorded = self.state.ids.get(str(category.id), {}).get("image")
        if not isinstance(url, str):
            if has_image:
                self._do(
                    plan,
                    Step("delete-image", category.id, target_id, category.name),
                    dry_run,
                    lambda: self._drop_image(category.id, target_id),
                )
            return
        with tempfile.TemporaryDirectory(prefix="vitrina-mirror-", dir=self.folder) as folder:
            local = Path(folder) / "original"
            try:
                digest = self.images.fetch(url, local)
            except (DownloadRefused, OSError) as exc:
                step = Step("image", category.id, target_id, category.name, status="failed")
                step.reason = f"cannot download {url[:300]}: {exc}"
                plan.steps.append(step)
                self.report(step)
                return
            if has_image and recorded == digest:
                return
            self._do(
                plan,
                Step("image", category.id, target_id, category.name, detail=url),
                dry_run,
                lambda: self._upload(category.id, target_id, local, digest),
            )

    def _upload(self, source_id: int, target_id: int, local: Path, digest: str) -> None:
        self.target.images.upload(target_id, local)
        self.state.set(source_id, image=digest)

    def _drop_image(self, source_id: int, target_id: int) -> None:
        self.target.images.delete(target_id)
        self.state.set(source_id, image=None)

    def _prune(self, plan: Plan, source: Tree, target: Tree, dry_run: bool) -> None:
        gone = [int(s) for s in self.state.ids if int(s) not in source.by_id]
        for source_id in gone:
            target_id = self.state.target(source_id)
            if target_id is None or target_id not in target.by_id:
                self.state.forget(source_id)
                continue
            step = Step("delete", source_id, target_id, target.by_id[target_id].name)

            def delete(source_id: int = source_id, target_id: int = target_id) -> None:
                with contextlib.suppress(NotFound):  # it went with a deleted parent
                    self.target.categories.delete(target_id)
                self.state.forget(source_id)

            self._do(plan, step, dry_run, delete)
