"""Flows as the designer sees them: drafts with revisions, published versions, entries.

A draft is saved whole. Every save names the revision it was based on; the database row is
updated only if that is still the current revision (one conditional UPDATE, so it holds across
processes and on both databases). A stale save is refused with 409 and the refused document is
kept as a conflict copy — nothing anyone typed is lost. Publishing and rolling back call
:mod:`runtime.store.publishing`, the same code as ``ivrflow publish``.

Everything here is synchronous; the web layer calls it from worker threads.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from designer import audit
from designer.models import DraftConflict, FlowDraft
from designer.problems import ApiError
from nodes.registry import Registry, default_registry
from prompts.catalogue import PromptCatalogue
from runtime.document import FlowText, UnusableFlow, load_flow_bytes
from runtime.library import MemoryLibrary
from runtime.store import publishing
from runtime.store.db import write_lock
from runtime.store.models import Entry, EntryChange, FlowVersion, db_time
from runtime.validate import ValidationResult, validate

__all__ = ["EXPORT_FORMAT", "Actor", "Flows", "canonical", "parse_flow"]

EXPORT_FORMAT = "ivrflow-export/1"
FLOW_ID_HINT_ZH = "流程编号只能包含小写字母、数字和 _ . -，以字母或数字开头，最长 64 个字符"
FLOW_ID_HINT_EN = "a flow id has lower-case letters, digits and _ . - (up to 64 characters)"


@dataclass(frozen=True)
class Actor:
    """Who is acting, for authorship and the audit log."""

    username: str
    ip: str = ""


def canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_flow(raw: bytes | str, *, name: str = "<flow>") -> FlowText:
    """Parse a flow document sent by a client; unusable input (not JSON, not UTF-8, too large,
    too deep, not an object) raises a 400/413 :class:`ApiError` naming the line and column."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    try:
        parsed = load_flow_bytes(data, name=name)
    except UnusableFlow as exc:
        status = 413 if exc.problem.code == "flow.too_large" else 400
        raise ApiError(
            status,
            exc.problem.code,
            exc.problem.message_zh,
            exc.problem.message_en,
            problems=[exc.problem],
        ) from None
    if not isinstance(parsed.data, dict):
        raise ApiError(
            400, "flow.not_object", "流程文档必须是 JSON 对象", "a flow document is a JSON object"
        )
    return parsed


FLOW_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


def _flow_id_ok(flow_id: object) -> bool:
    return isinstance(flow_id, str) and FLOW_ID.fullmatch(flow_id) is not None


def _not_found(flow_id: str) -> ApiError:
    return ApiError(404, "flow.unknown", f"没有流程 {flow_id}", f"no flow {flow_id}")


class Flows:
    def __init__(
        self,
        engine: Engine,
        registry: Registry | None = None,
        catalogue_for: Callable[[Mapping[str, Any]], PromptCatalogue] | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry or default_registry()
        self.catalogue_for = catalogue_for
        """The prompt catalogue a document is validated against (the prompt library)."""
        self._shas: dict[tuple[str, int, Any], str] = {}

    # -- reading ----------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every flow with its state: revision, who saved last, live entries, newest version,
        and whether the draft differs from that version."""
        with Session(self.engine) as session:
            drafts = session.exec(select(FlowDraft).order_by(col(FlowDraft.flow_id))).all()
            latest: dict[str, tuple[int, str]] = {}
            newest = (
                select(FlowVersion.flow_id, func.max(FlowVersion.version))
                .group_by(FlowVersion.flow_id)
                .subquery()
            )
            rows = session.exec(
                select(FlowVersion.flow_id, FlowVersion.version, FlowVersion.sha256).join(
                    newest,
                    (col(FlowVersion.flow_id) == newest.c.flow_id)
                    & (col(FlowVersion.version) == newest.c[1]),
                )
            ).all()
            for flow_id, version, sha in rows:
                latest[flow_id] = (version, sha)
            live: dict[str, list[dict[str, Any]]] = {}
            for entry in session.exec(select(Entry).order_by(col(Entry.name))).all():
                live.setdefault(entry.flow_id, []).append(
                    {"entry": entry.name, "version": entry.version}
                )
            listed = []
            for draft in drafts:
                version, sha = latest.get(draft.flow_id, (None, None))
                if version is None:
                    status = "unpublished"
                elif sha == self._draft_sha(draft):
                    status = "published"
                else:
                    status = "modified"
                listed.append(
                    {
                        "id": draft.flow_id,
                        "name": draft.name,
                        "revision": draft.revision,
                        "updated_at": db_time(draft.updated_at).isoformat(),
                        "updated_by": draft.updated_by,
                        "latest_version": version,
                        "live": live.get(draft.flow_id, []),
                        "status": status,
                    }
                )
            return listed

    def _draft_sha(self, draft: FlowDraft) -> str:
        """The canonical hash of a draft (what publishing compares), kept per revision: the
        flow list asks for every flow, and a 500-node draft takes milliseconds to hash."""
        key = (draft.flow_id, draft.revision, draft.updated_at)
        cached = self._shas.get(key)
        if cached is None:
            cached = _sha(canonical(json.loads(draft.document)))
            if len(self._shas) > 10_000:
                self._shas.clear()
            self._shas[key] = cached
        return cached

    def _draft(self, session: Session, flow_id: str) -> FlowDraft:
        draft = session.get(FlowDraft, flow_id)
        if draft is None:
            raise _not_found(flow_id)
        return draft

    @staticmethod
    def _meta(draft: FlowDraft) -> dict[str, Any]:
        return {
            "id": draft.flow_id,
            "name": draft.name,
            "revision": draft.revision,
            "created_at": db_time(draft.created_at).isoformat(),
            "created_by": draft.created_by,
            "updated_at": db_time(draft.updated_at).isoformat(),
            "updated_by": draft.updated_by,
        }

    @classmethod
    def _view(cls, draft: FlowDraft) -> dict[str, Any]:
        return {**cls._meta(draft), "document": json.loads(draft.document)}

    def get(self, flow_id: str) -> dict[str, Any]:
        with Session(self.engine) as session:
            return self._view(self._draft(session, flow_id))

    def get_json(self, flow_id: str) -> tuple[dict[str, Any], bytes]:
        """The draft's details and the draft as one JSON text, built around the stored
        document text (no parsing and re-writing of a large flow)."""
        with Session(self.engine) as session:
            draft = self._draft(session, flow_id)
            meta = self._meta(draft)
            head = json.dumps(meta, ensure_ascii=False)[:-1]
            return meta, f'{head}, "document": {draft.document}}}'.encode()

    def closure(self, flow_id: str) -> dict[str, dict[str, Any]]:
        """The draft of ``flow_id`` and the drafts of the sub-flows it calls (transitively)."""
        library = self.library()
        if flow_id not in library.documents:
            raise _not_found(flow_id)
        order = [flow_id]
        for current in order:
            for child in library.subflows_of(current):
                if child in library.documents and child not in order:
                    order.append(child)
        return {f: library.documents[f] for f in order}

    def library(self) -> MemoryLibrary:
        """All drafts, for validating a flow together with the sub-flows it calls."""
        with Session(self.engine) as session:
            documents = {
                d.flow_id: json.loads(d.document) for d in session.exec(select(FlowDraft)).all()
            }
        return MemoryLibrary(documents, registry=self.registry)

    # -- writing ----------------------------------------------------------------------------
    def create(
        self, document: dict[str, Any], actor: Actor, *, action: str = "flow.create"
    ) -> dict[str, Any]:
        flow_id = document.get("id")
        if not _flow_id_ok(flow_id):
            raise ApiError(422, "flow.id", FLOW_ID_HINT_ZH, FLOW_ID_HINT_EN)
        assert isinstance(flow_id, str)
        now = db_time()
        draft = FlowDraft(
            flow_id=flow_id,
            name=str(document.get("name", ""))[:200],
            document=json.dumps(document, ensure_ascii=False),
            revision=1,
            created_at=now,
            created_by=actor.username,
            updated_at=now,
            updated_by=actor.username,
        )
        with Session(self.engine) as session:
            session.add(draft)
            audit.record(session, action, actor=actor.username, target=flow_id, ip=actor.ip)
            try:
                session.commit()
            except IntegrityError:
                raise ApiError(
                    409, "flow.exists", f"流程 {flow_id} 已存在", f"flow {flow_id} already exists"
                ) from None
            session.refresh(draft)
            return self._view(draft)

    def save(
        self,
        flow_id: str,
        document: dict[str, Any],
        base_revision: int,
        actor: Actor,
        *,
        text: str | None = None,
    ) -> dict[str, Any]:
        """Save a draft based on ``base_revision`` (``text``: the document as received, stored
        as it is). Stale → 409 with the current draft, who saved it and when, and the id of the
        kept copy of the refused document. Returns the draft's details without the document."""
        if document.get("id") != flow_id:
            raise ApiError(
                422,
                "flow.id_mismatch",
                f"文档中的 id（{document.get('id')!r}）与地址中的流程 {flow_id} 不一致",
                f"the document's id ({document.get('id')!r}) is not the flow {flow_id}",
            )
        if text is None:
            text = json.dumps(document, ensure_ascii=False)
        now = db_time()
        with write_lock(self.engine), Session(self.engine) as session:
            result = session.exec(
                update(FlowDraft)
                .where(col(FlowDraft.flow_id) == flow_id, col(FlowDraft.revision) == base_revision)
                .values(
                    document=text,
                    name=str(document.get("name", ""))[:200],
                    revision=FlowDraft.revision + 1,
                    updated_at=now,
                    updated_by=actor.username,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                audit.record(
                    session,
                    "flow.save",
                    actor=actor.username,
                    target=flow_id,
                    ip=actor.ip,
                    detail={"revision": base_revision + 1},
                )
                session.commit()
                return self._meta(self._draft(session, flow_id))
            session.rollback()
            current = self._draft(session, flow_id)  # 404 when it was deleted
            kept = DraftConflict(
                flow_id=flow_id,
                base_revision=base_revision,
                current_revision=current.revision,
                document=text,
                author=actor.username,
                created_at=now,
            )
            session.add(kept)
            audit.record(
                session,
                "flow.conflict",
                actor=actor.username,
                target=flow_id,
                ip=actor.ip,
                detail={"base_revision": base_revision, "current_revision": current.revision},
            )
            session.commit()
            session.refresh(kept)
            who = current.updated_by or "?"
            when = db_time(current.updated_at).isoformat(timespec="seconds")
            raise ApiError(
                409,
                "draft.stale",
                f"保存未成功：{who} 在 {when} 保存了第 {current.revision} 版，而你的修改基于第 "
                f"{base_revision} 版。你的版本已另存（副本 {kept.id}），可以重新加载或保留副本。",
                f"Not saved: {who} saved revision {current.revision} at {when}, and your "
                f"changes are based on revision {base_revision}. Your version is kept "
                f"(copy {kept.id}); reload, or keep your copy.",
                current=self._view(current),
                conflict_id=kept.id,
                your_base_revision=base_revision,
            )

    def import_many(
        self, documents: list[dict[str, Any]], actor: Actor, *, replace: bool
    ) -> list[dict[str, Any]]:
        """Import flow documents as drafts in one transaction: all of them or none. An
        existing flow is refused (409) unless ``replace``, which saves a new revision."""
        ids = [d.get("id") for d in documents]
        bad = [str(i) for i in ids if not _flow_id_ok(i)]
        if bad:
            raise ApiError(
                422,
                "flow.id",
                f"{FLOW_ID_HINT_ZH}：{', '.join(bad)}",
                f"{FLOW_ID_HINT_EN}: {', '.join(bad)}",
            )
        twice = sorted({str(i) for i in ids if ids.count(i) > 1})
        if twice:
            raise ApiError(
                422,
                "import.duplicate",
                f"导入文件中流程重复：{', '.join(twice)}",
                f"the bundle holds these flows twice: {', '.join(twice)}",
            )
        now = db_time()
        imported = []
        with Session(self.engine) as session:
            existing = {
                d.flow_id: d
                for d in session.exec(
                    select(FlowDraft).where(col(FlowDraft.flow_id).in_([str(i) for i in ids]))
                ).all()
            }
            if existing and not replace:
                clash = sorted(existing)
                raise ApiError(
                    409,
                    "import.exists",
                    f"这些流程已存在：{', '.join(clash)}（可选择替换草稿）",
                    f"these flows exist: {', '.join(clash)} (choose replace to overwrite their "
                    "drafts)",
                    existing=clash,
                )
            for document in documents:
                flow_id = str(document["id"])
                text = json.dumps(document, ensure_ascii=False)
                draft = existing.get(flow_id)
                if draft is None:
                    draft = FlowDraft(
                        flow_id=flow_id,
                        document=text,
                        created_at=now,
                        created_by=actor.username,
                        updated_at=now,
                    )
                else:
                    draft.revision += 1
                    draft.document = text
                draft.name = str(document.get("name", ""))[:200]
                draft.updated_at = now
                draft.updated_by = actor.username
                session.add(draft)
                imported.append({"id": flow_id, "revision": draft.revision})
            audit.record(
                session,
                "flow.import",
                actor=actor.username,
                target=str(ids[0]) if ids else "",
                ip=actor.ip,
                detail={"flows": imported, "replace": replace},
            )
            session.commit()
        return imported

    def conflict_copy(self, flow_id: str, conflict_id: int) -> dict[str, Any]:
        with Session(self.engine) as session:
            kept = session.get(DraftConflict, conflict_id)
            if kept is None or kept.flow_id != flow_id:
                raise ApiError(
                    404, "conflict.unknown", f"没有副本 {conflict_id}", f"no copy {conflict_id}"
                )
            return {
                "id": kept.id,
                "flow_id": kept.flow_id,
                "base_revision": kept.base_revision,
                "current_revision": kept.current_revision,
                "author": kept.author,
                "created_at": db_time(kept.created_at).isoformat(),
                "document": json.loads(kept.document),
            }

    def delete(self, flow_id: str, actor: Actor) -> None:
        """Delete a draft. Its published versions stay (they are history); a flow still live
        on an entry cannot be deleted."""
        with Session(self.engine) as session:
            draft = self._draft(session, flow_id)
            entries = session.exec(select(Entry.name).where(Entry.flow_id == flow_id)).all()
            if entries:
                raise ApiError(
                    409,
                    "flow.live",
                    f"流程 {flow_id} 正在入口 {', '.join(entries)} 上运行，不能删除",
                    f"flow {flow_id} is live on {', '.join(entries)} and cannot be deleted",
                    entries=list(entries),
                )
            session.delete(draft)
            audit.record(
                session,
                "flow.delete",
                actor=actor.username,
                target=flow_id,
                ip=actor.ip,
                detail={"revision": draft.revision},
            )
            session.commit()

    # -- validating and publishing -----------------------------------------------------------
    def validate(self, flow_id: str, document: dict[str, Any] | None = None) -> ValidationResult:
        library = self.library()
        if document is None:
            if flow_id not in library.documents:
                raise _not_found(flow_id)
            document = library.documents[flow_id]
        elif _flow_id_ok(document.get("id")):
            library.add(document)
        catalogue = self.catalogue_for(document) if self.catalogue_for else None
        return validate(document, registry=self.registry, library=library, catalogue=catalogue)

    def publish(
        self,
        flow_id: str,
        *,
        entry: str,
        message: str,
        actor: Actor,
        base_revision: int | None = None,
        extra: publishing.BeforeCommit | None = None,
        prompts_sha: str = "",
    ) -> publishing.PublishResult:
        """Publish the saved draft (and the sub-flows it calls) on ``entry``. With
        ``base_revision``, refuse (409) if the draft moved on since the user looked at it."""
        _check_entry_name(entry)
        library = self.library()
        if flow_id not in library.documents:
            raise _not_found(flow_id)
        with Session(self.engine) as session:
            revision = self._draft(session, flow_id).revision
        if base_revision is not None and base_revision != revision:
            raise ApiError(
                409,
                "draft.stale",
                f"草稿已被修改（现在是第 {revision} 版，你看到的是第 {base_revision} 版），"
                "请重新加载后再发布",
                f"the draft changed (now revision {revision}, you saw {base_revision}); "
                "reload before publishing",
                current_revision=revision,
            )

        def audit_it(session: Session, result: publishing.PublishResult) -> None:
            audit.record(
                session,
                "flow.publish",
                actor=actor.username,
                target=flow_id,
                ip=actor.ip,
                detail={
                    "entry": entry,
                    "version": result.version,
                    "previous": result.previous_version,
                    "revision": revision,
                    "message": message[:500],
                },
            )
            if extra is not None:
                extra(session, result)

        try:
            return publishing.publish(
                self.engine,
                library.documents[flow_id],
                entry=entry,
                message=message,
                author=actor.username,
                library=library,
                registry=self.registry,
                before_commit=audit_it,
                prompts_sha=prompts_sha,
                catalogue_for=self.catalogue_for,
            )
        except publishing.PublishRejected as exc:
            which = exc.flow_id or flow_id
            raise ApiError(
                422,
                "publish.invalid",
                f"流程 {which} 有错误，不能发布（见问题列表）",
                f"flow {which} has errors and cannot be published (see the problem list)",
                problems=exc.problems,
                flow_id=which,
            ) from None

    def rollback(
        self, entry: str, version: int, *, message: str, actor: Actor
    ) -> publishing.PublishResult:
        def audit_it(session: Session, result: publishing.PublishResult) -> None:
            audit.record(
                session,
                "entry.rollback",
                actor=actor.username,
                target=entry,
                ip=actor.ip,
                detail={
                    "flow": result.flow_id,
                    "version": result.version,
                    "previous": result.previous_version,
                    "message": message[:500],
                },
            )

        try:
            return publishing.rollback(
                self.engine,
                entry=entry,
                version=version,
                message=message,
                author=actor.username,
                before_commit=audit_it,
            )
        except LookupError as exc:
            raise ApiError(
                404, "rollback.unknown", f"无法回滚：{exc}", f"cannot roll back: {exc}"
            ) from None

    # -- versions and entries ------------------------------------------------------------------
    def versions(self, flow_id: str) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(FlowVersion)
                .where(FlowVersion.flow_id == flow_id)
                .order_by(col(FlowVersion.version).desc())
            ).all()
            live: dict[int, list[str]] = {}
            for entry in session.exec(select(Entry).where(Entry.flow_id == flow_id)).all():
                live.setdefault(entry.version, []).append(entry.name)
            if not rows and session.get(FlowDraft, flow_id) is None:
                raise _not_found(flow_id)
            return [
                {
                    "version": row.version,
                    "message": row.message,
                    "author": row.author,
                    "created_at": db_time(row.created_at).isoformat(),
                    "sha256": row.sha256,
                    "dependencies": row.dependencies or {},
                    "live_on": sorted(live.get(row.version, [])),
                }
                for row in rows
            ]

    def version_document(self, flow_id: str, version: int) -> dict[str, Any]:
        with Session(self.engine) as session:
            row = session.exec(
                select(FlowVersion).where(
                    FlowVersion.flow_id == flow_id, FlowVersion.version == version
                )
            ).first()
            if row is None:
                raise ApiError(
                    404,
                    "version.unknown",
                    f"流程 {flow_id} 没有第 {version} 版",
                    f"flow {flow_id} has no version {version}",
                )
            return json.loads(row.document)

    def entries(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            out = []
            for entry in session.exec(select(Entry).order_by(col(Entry.name))).all():
                history = session.exec(
                    select(EntryChange)
                    .where(EntryChange.entry == entry.name)
                    .order_by(col(EntryChange.id).desc())
                    .limit(20)
                ).all()
                out.append(
                    {
                        "entry": entry.name,
                        "flow_id": entry.flow_id,
                        "version": entry.version,
                        "updated_at": db_time(entry.updated_at).isoformat(),
                        "updated_by": entry.updated_by,
                        "history": [
                            {
                                "action": h.action,
                                "from_version": h.from_version,
                                "to_version": h.to_version,
                                "author": h.author,
                                "message": h.message,
                                "at": db_time(h.at).isoformat(),
                            }
                            for h in history
                        ],
                    }
                )
            return out

    def delete_entry(self, entry: str, actor: Actor) -> None:
        with Session(self.engine) as session:
            row = session.get(Entry, entry)
            if row is None:
                raise ApiError(404, "entry.unknown", f"没有入口 {entry}", f"no entry {entry}")
            session.delete(row)
            audit.record(
                session,
                "entry.delete",
                actor=actor.username,
                target=entry,
                ip=actor.ip,
                detail={"flow": row.flow_id, "version": row.version},
            )
            session.commit()


def _check_entry_name(entry: object) -> None:
    if not isinstance(entry, str) or not ENTRY_NAME.fullmatch(entry):
        raise ApiError(
            422,
            "entry.name",
            "入口名（如拨入号码 12329）只能包含字母、数字和 _ . + -，最长 100 个字符",
            "an entry name (e.g. the dialled number 12329) has letters, digits and _ . + - "
            "(up to 100 characters)",
        )
