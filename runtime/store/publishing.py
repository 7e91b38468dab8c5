"""Publishing: validate, store immutable versions, move an entry's pointer — one transaction.

Publishing a flow publishes the sub-flows it calls (transitively) first, each as its own
version (a sub-flow whose document is unchanged reuses its latest version), and pins their
versions in the main flow's version row. A call that starts on a version therefore runs
exactly the flows that were published with it, whatever is published later.

The CLI (``ivrflow publish``) and the designer call the same :func:`publish`.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from nodes.registry import Registry, default_registry
from prompts.catalogue import PromptCatalogue
from runtime.flow import Flow
from runtime.library import MemoryLibrary
from runtime.problems import Problem, Severity
from runtime.store.models import Entry, EntryChange, FlowVersion, db_time
from runtime.validate import validate

__all__ = [
    "FlowVersionInfo",
    "PinnedLibrary",
    "PublishRejected",
    "PublishResult",
    "entry_version",
    "load_entry",
    "publish",
    "rollback",
]


PUBLISH_ATTEMPTS = 10
_PUBLISH_LOCK = 123290001  # PostgreSQL advisory lock key for publishing


class PublishRejected(Exception):
    """Publishing refused; ``problems`` says why (validator problems, or what is missing)."""

    def __init__(self, problems: list[Problem], flow_id: str = "") -> None:
        errors = [p for p in problems if p.severity is Severity.ERROR]
        super().__init__(
            f"{flow_id or 'flow'}: {len(errors)} error(s) block publishing"
            + (f": {errors[0].message_en}" if errors else "")
        )
        self.problems = problems
        self.flow_id = flow_id


@dataclass
class PublishResult:
    entry: str
    flow_id: str
    version: int
    previous_version: int | None
    dependencies: dict[str, int] = field(default_factory=dict)
    new_versions: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


BeforeCommit = Callable[[Session, PublishResult], None]


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _now() -> datetime:
    return db_time()


def _version_row(session: Session, flow_id: str, version: int) -> FlowVersion | None:
    return session.exec(
        select(FlowVersion).where(FlowVersion.flow_id == flow_id, FlowVersion.version == version)
    ).first()


def _move_entry(
    session: Session,
    *,
    entry: str,
    flow_id: str,
    version: int,
    action: str,
    message: str,
    author: str,
    now: datetime,
) -> int | None:
    """Point ``entry`` at ``flow_id`` ``version`` and log the move; return the version it
    pointed at before (None for a new entry or another flow)."""
    current = session.get(Entry, entry)
    previous = current.version if current and current.flow_id == flow_id else None
    if current is None:
        current = Entry(name=entry, flow_id=flow_id, version=version, updated_at=now)
    current.flow_id = flow_id
    current.version = version
    current.updated_at = now
    current.updated_by = author
    session.add(current)
    session.add(
        EntryChange(
            entry=entry,
            flow_id=flow_id,
            from_version=previous,
            to_version=version,
            action=action,
            message=message,
            author=author,
            at=now,
        )
    )
    return previous


def _latest(session: Session, flow_id: str) -> FlowVersion | None:
    return session.exec(
        select(FlowVersion)
        .where(FlowVersion.flow_id == flow_id)
        .order_by(FlowVersion.version.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()


def _closure(library: MemoryLibrary, flow_id: str) -> list[str]:
    """Sub-flows of ``flow_id``, dependencies first (post-order), without ``flow_id``."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(current: str) -> None:
        for child in library.subflows_of(current):
            if child not in seen:
                seen.add(child)
                visit(child)
                order.append(child)

    visit(flow_id)
    return [f for f in order if f != flow_id]


def publish(
    engine: Engine,
    document: Mapping[str, Any],
    *,
    entry: str,
    message: str = "",
    author: str = "",
    library: MemoryLibrary | None = None,
    registry: Registry | None = None,
    before_commit: BeforeCommit | None = None,
    prompts_sha: str = "",
    catalogue_for: Callable[[Mapping[str, Any]], PromptCatalogue] | None = None,
) -> PublishResult:
    """Validate ``document`` (and the sub-flows it calls, found in ``library``), store new
    versions where documents changed and point ``entry`` at the main flow's version.
    ``before_commit(session, result)`` may add rows (an audit event) to the same transaction.
    ``prompts_sha`` fingerprints the prompt audio published with it: a main flow whose
    document is unchanged still gets a new version when its audio changed. ``catalogue_for``
    gives the prompt catalogue to validate each document against (the prompt library)."""
    registry = registry or default_registry()
    library = library or MemoryLibrary(registry=registry)
    if isinstance(document.get("id"), str):
        library.add(dict(document))

    def catalogue(doc: Mapping[str, Any]) -> PromptCatalogue | None:
        return catalogue_for(doc) if catalogue_for is not None else None

    result = validate(document, registry=registry, library=library, catalogue=catalogue(document))
    flow_id = str(document.get("id", ""))
    if not result.ok:
        raise PublishRejected(result.problems, flow_id)
    children = _closure(library, flow_id)
    for child in children:
        child_doc = library.documents[child]
        child_result = validate(
            child_doc, registry=registry, library=library, catalogue=catalogue(child_doc)
        )
        if not child_result.ok:
            raise PublishRejected(child_result.problems, child)
    warnings = [p for p in result.problems if p.severity is Severity.WARNING]
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            return _publish_once(
                engine,
                document=document,
                children=children,
                library=library,
                entry=entry,
                message=message,
                author=author,
                warnings=warnings,
                before_commit=before_commit,
                prompts_sha=prompts_sha,
            )
        except (IntegrityError, OperationalError):
            # SQLite: a concurrent publish took the version number or held the write lock
            if attempt == PUBLISH_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _publish_once(
    engine: Engine,
    *,
    document: Mapping[str, Any],
    children: list[str],
    library: MemoryLibrary,
    entry: str,
    message: str,
    author: str,
    warnings: list[Problem],
    before_commit: BeforeCommit | None,
    prompts_sha: str = "",
) -> PublishResult:
    now = _now()
    new_versions: list[tuple[str, int]] = []
    pinned: dict[str, int] = {}
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            # publishes are rare: serialise them, so version numbers never collide
            session.exec(text(f"SELECT pg_advisory_xact_lock({_PUBLISH_LOCK})"))

        def store(doc: Mapping[str, Any], dependencies: dict[str, int], audio: str = "") -> int:
            text = _canonical(doc)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            latest = _latest(session, doc["id"])
            if (
                latest is not None
                and latest.sha256 == digest
                and latest.dependencies == dependencies
                and latest.prompts_sha == audio
            ):
                return latest.version
            version = (latest.version + 1) if latest else 1
            session.add(
                FlowVersion(
                    flow_id=doc["id"],
                    version=version,
                    name=doc.get("name", ""),
                    document=text,
                    sha256=digest,
                    prompts_sha=audio,
                    dependencies=dependencies,
                    message=message,
                    author=author,
                    created_at=now,
                )
            )
            session.flush()
            new_versions.append((doc["id"], version))
            return version

        for child in children:
            child_doc = library.documents[child]
            deps = {c: pinned[c] for c in _closure(library, child)}
            pinned[child] = store(child_doc, deps)
        version = store(document, dict(pinned), prompts_sha)
        previous = _move_entry(
            session,
            entry=entry,
            flow_id=document["id"],
            version=version,
            action="publish",
            message=message,
            author=author,
            now=now,
        )
        result = PublishResult(
            entry, document["id"], version, previous, dict(pinned), new_versions, warnings
        )
        if before_commit is not None:
            before_commit(session, result)
        session.commit()
    return result


def rollback(
    engine: Engine,
    *,
    entry: str,
    version: int,
    message: str = "",
    author: str = "",
    before_commit: BeforeCommit | None = None,
) -> PublishResult:
    """Point ``entry`` back at an existing version of its flow (a pointer move)."""
    with Session(engine) as session:
        current = session.get(Entry, entry)
        if current is None:
            raise LookupError(f"no entry named {entry!r}")
        flow_id = current.flow_id
        target = _version_row(session, flow_id, version)
        if target is None:
            raise LookupError(f"flow {flow_id!r} has no version {version}")
        dependencies = dict(target.dependencies)
        previous = _move_entry(
            session,
            entry=entry,
            flow_id=flow_id,
            version=version,
            action="rollback",
            message=message,
            author=author,
            now=_now(),
        )
        result = PublishResult(entry, flow_id, version, previous, dependencies)
        if before_commit is not None:
            before_commit(session, result)
        session.commit()
        return result


def load_entry(engine: Engine, entry: str) -> tuple[str, int] | None:
    """The (flow id, version) an entry points at, or None."""
    with Session(engine) as session:
        row = session.get(Entry, entry)
        return (row.flow_id, row.version) if row else None


@dataclass(frozen=True)
class FlowVersionInfo:
    flow_id: str
    version: int
    dependencies: dict[str, int]


def entry_version(engine: Engine, entry: str) -> FlowVersionInfo | None:
    """What a call arriving on ``entry`` runs: the flow version and its pinned sub-flows."""
    with Session(engine) as session:
        row = session.get(Entry, entry)
        if row is None:
            return None
        version = _version_row(session, row.flow_id, row.version)
        if version is None:
            return None
        return FlowVersionInfo(row.flow_id, row.version, dict(version.dependencies))


def version_count(engine: Engine, flow_id: str) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(FlowVersion).where(FlowVersion.flow_id == flow_id)
        ).one()


class PinnedLibrary:
    """The flows of one published version: the main flow and its pinned sub-flows.

    Each version is validated once and kept in ``cache`` (share one dict per database for the
    life of the process: versions never change)."""

    def __init__(
        self,
        engine: Engine,
        pins: Mapping[str, int],
        registry: Registry | None = None,
        cache: dict[tuple[str, int], Flow | None] | None = None,
    ) -> None:
        self.engine = engine
        self.pins = dict(pins)
        self.registry = registry or default_registry()
        self._cache = cache if cache is not None else {}

    def exists(self, flow_id: str) -> bool:
        return flow_id in self.pins

    def subflows_of(self, flow_id: str) -> list[str]:
        flow = self.get(flow_id)
        if flow is None:
            return []
        return [
            r.value
            for spec in flow.nodes.values()
            for r in spec.cls.references(spec.config)
            if r.kind == "flow" and isinstance(r.value, str)
        ]

    def get(self, flow_id: str) -> Flow | None:
        version = self.pins.get(flow_id)
        if version is None:
            return None
        key = (flow_id, version)
        if key not in self._cache:
            with Session(self.engine) as session:
                row = _version_row(session, flow_id, version)
            if row is None:
                return None
            document = json.loads(row.document)
            pins = {**row.dependencies, flow_id: version}
            inner = PinnedLibrary(self.engine, pins, self.registry, self._cache)
            self._cache[key] = validate(document, registry=self.registry, library=inner).flow
        return self._cache[key]
