"""The designer's REST API (JSON). Each endpoint is a function of a request context; the
route table at the bottom is the whole API, and :mod:`designer.openapi` describes it.

Drafts are read with their revision in an ``ETag`` and saved with ``If-Match`` naming the
revision the edit started from; a stale save gets 409 (both sides kept).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.auth import ROLES
from designer.diff import semantic_diff
from designer.flows import EXPORT_FORMAT, canonical
from designer.problems import ApiError
from designer.web import Context, api, client_ip
from nodes.api import CATEGORIES
from prompts.library import prompt_uses
from prompts.tts import NICENESS
from runtime.flow import flow_schema
from runtime.problems import Severity
from runtime.validate import ValidationResult, validate_text

__all__ = ["routes"]

log = logging.getLogger("ivrflow.designer")


# -- request bodies ---------------------------------------------------------------------------
class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class PublishBody(BaseModel):
    entry: str = Field(min_length=1, max_length=100, description="entry name, e.g. 12329")
    message: str = Field(default="", max_length=2000)
    base_revision: int | None = Field(
        default=None, description="the draft revision the user reviewed; 409 if it moved on"
    )


class ExitsBody(BaseModel):
    config: dict[str, Any] = Field(default_factory=dict, description="the node's config")


class RollbackBody(BaseModel):
    version: int = Field(ge=1)
    message: str = Field(default="", max_length=2000)


class NewUserBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    roles: list[str] = Field(min_length=1, description=f"any of {', '.join(ROLES)}")
    display_name: str = Field(default="", max_length=100)


class UserPatchBody(BaseModel):
    roles: list[str] | None = None
    active: bool | None = None
    display_name: str | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, min_length=8, max_length=256)


class PasswordBody(BaseModel):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class ImportBody(BaseModel):
    format: str = Field(description=EXPORT_FORMAT)
    flows: list[dict[str, Any]] = Field(min_length=1, max_length=50)
    prompts: dict[str, Any] = Field(default_factory=dict)
    on_conflict: str = Field(
        default="fail",
        pattern="^(fail|replace)$",
        description="an existing flow: fail (409) or replace its draft (a new revision)",
    )


# -- helpers ----------------------------------------------------------------------------------
def _etag(revision: int) -> str:
    return f'"{revision}"'


def _if_match(ctx: Context) -> int:
    header = ctx.request.headers.get("if-match", "")
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', header)
    if not match:
        raise ApiError(
            428,
            "draft.revision_required",
            "保存草稿须在 If-Match 头中给出所基于的版本号（读取时的 ETag）",
            "saving a draft needs the revision it is based on in If-Match (the ETag you read)",
        )
    return int(match.group(1))


def _validation(result: ValidationResult) -> dict[str, Any]:
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    return {
        "ok": result.ok,
        "errors": len(errors),
        "warnings": len(result.problems) - len(errors),
        "problems": [p.to_json() for p in result.problems],
    }


async def _placeholders_after_save(
    services: Any, flow_id: str, document: dict[str, Any], generation: int
) -> None:
    """Every prompt of a saved flow without audio gets a TTS placeholder once its editor has
    paused: ``placeholder_delay_s`` after the last save of that flow (a later save
    supersedes this one), so a run of saves speaks only the final texts. Only the saved
    document is read; its sub-flows get theirs when they are saved, and publishing makes any
    still missing. Runs as a task of its own: the response (and the connection it came on)
    never waits for it."""
    try:
        await asyncio.sleep(services.placeholder_delay_s)
        if services.placeholder_generations.get(flow_id) != generation:
            return  # saved again meanwhile: that save's task does it
        uses = prompt_uses([document], services.registry)
        # one synthesis at a time, at low CPU priority: editors' requests come first
        NICENESS.set(10)  # this task's own context
        made = await services.prompts.ensure_placeholders(uses, background=True)
        if made["failed"]:
            log.info("placeholders for %s: %d failed", flow_id, len(made["failed"]))
    except asyncio.CancelledError:
        raise
    except Exception:  # never fail the save over it; publishing tries again
        log.exception("making placeholders for %s", flow_id)


async def _schedule_placeholders(
    services: Any, flow_id: str, document: dict[str, Any], generation: int
) -> None:
    job = _placeholders_after_save(services, flow_id, document, generation)
    if services.placeholder_delay_s <= 0:
        await job  # no pause to wait for (tests): at once
        return
    task = asyncio.get_running_loop().create_task(job, name=f"placeholders-{flow_id}")
    services.placeholder_tasks.add(task)
    task.add_done_callback(services.placeholder_tasks.discard)


def _draft_response(
    view: dict[str, Any],
    status: int = 200,
    services: Any = None,
    document: dict[str, Any] | None = None,
) -> Response:
    background = None
    if services is not None and document is not None:
        generations = services.placeholder_generations
        generation = generations[view["id"]] = generations.get(view["id"], 0) + 1
        background = BackgroundTask(
            _schedule_placeholders, services, view["id"], document, generation
        )
    return JSONResponse(
        view,
        status_code=status,
        headers={"ETag": _etag(view["revision"])},
        background=background,
    )


# -- session ------------------------------------------------------------------------------------
@api(None, body=LoginBody, tag="session", responses={401: "wrong credentials", 429: "throttled"})
def login(ctx: Context) -> Response:
    """Sign in: sets the session cookie and returns the user and the CSRF token."""
    if "json" not in ctx.request.headers.get("content-type", ""):
        raise ApiError(
            415, "request.content_type", "请求须为 application/json", "send application/json"
        )
    body = ctx.body(LoginBody)
    token, principal = ctx.services.users.login(
        body.username,
        body.password,
        ip=client_ip(ctx.request),
        user_agent=ctx.request.headers.get("user-agent", ""),
    )
    settings = ctx.services.auth
    response = JSONResponse({"user": principal.to_json(), "csrf_token": principal.csrf_token})
    response.set_cookie(
        settings.cookie_name,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@api("flows.read", tag="session")
def logout(ctx: Context) -> Response:
    """Sign out: ends this session."""
    ctx.services.users.logout(ctx.user, ip=ctx.actor.ip)
    response = JSONResponse({"ok": True})
    response.delete_cookie(ctx.services.auth.cookie_name, path="/")
    return response


@api("flows.read", tag="session")
def session_info(ctx: Context) -> dict[str, Any]:
    """The signed-in user, their permissions and the CSRF token (401 when signed out)."""
    return {"user": ctx.user.to_json(), "csrf_token": ctx.user.csrf_token}


@api("flows.read", body=PasswordBody, tag="session")
def change_own_password(ctx: Context) -> dict[str, Any]:
    """Change your own password (other sessions of yours end)."""
    body = ctx.body(PasswordBody)
    ctx.services.users.set_password(
        ctx.user.username,
        body.new_password,
        old_password=body.old_password,
        actor=ctx.user.username,
        ip=ctx.actor.ip,
        keep_session=ctx.user.token_hash,
    )
    return {"ok": True}


# -- catalogue ----------------------------------------------------------------------------------
@api(None, tag="meta")
def health(ctx: Context) -> dict[str, Any]:
    """Liveness and the database in use (no sign-in)."""
    return {"ok": True, "database": ctx.services.engine.dialect.name}


@api("flows.read", tag="meta")
def node_types(ctx: Context) -> dict[str, Any]:
    """Node types with zh/en titles, categories, config JSON Schemas and exits."""
    registry = ctx.services.registry
    return {
        "categories": CATEGORIES,
        "nodes": registry.describe(),
        "problems": [p.to_json() for p in registry.problems],
    }


@api("flows.read", body=ExitsBody, tag="meta", responses={404: "unknown node type"})
def node_type_exits(ctx: Context) -> dict[str, Any]:
    """A node's exits for a config (menu keys, branch rules…), with their zh/en titles.

    The config need not be complete: defaults are filled in; when the type cannot compute
    exits from it, its static exits are returned with ``computed: false``."""
    node_type = ctx.path("node_type")
    cls = ctx.services.registry.get(node_type)
    if cls is None:
        raise ApiError(
            404, "node_type.unknown", f"没有节点类型 {node_type}", f"no node type {node_type}"
        )
    config = cls.with_defaults(ctx.body(ExitsBody).config)
    computed = True
    try:
        exits = [str(e) for e in cls.exits_for(config)]
        titles = {e: cls.exit_title(e, config) for e in exits}
    except Exception:  # a plugin's exits_for on a half-filled config: show the static exits
        computed = False
        exits = list(cls.exits)
        titles = {e: cls.exit_title(e) for e in exits}
    return {
        "type": cls.type,
        "exits": exits,
        "exit_titles": titles,
        "computed": computed,
        "config_valid": not cls.config_errors(config),
    }


@api("flows.read", tag="meta")
def flow_document_schema(ctx: Context) -> dict[str, Any]:
    """The flow document's JSON Schema (2020-12)."""
    return flow_schema()


# -- flows --------------------------------------------------------------------------------------
@api("flows.read", tag="flows")
def list_flows(ctx: Context) -> dict[str, Any]:
    """Every flow: revision, last editor, live entries, newest version, status."""
    return {"flows": ctx.services.flows.list()}


@api("flows.write", body="flow", tag="flows", responses={409: "the id exists"})
def create_flow(ctx: Context) -> Response:
    """Create a flow from a flow document (it may still have problems; publishing checks)."""
    document = ctx.flow_document().data
    view = ctx.services.flows.create(document, ctx.actor)
    return _draft_response(view, 201, ctx.services, document)


@api("flows.read", tag="flows")
def get_flow(ctx: Context) -> Response:
    """A flow's draft with its revision (also in ETag)."""
    meta, body = ctx.services.flows.get_json(ctx.path("flow_id"))
    return Response(body, media_type="application/json", headers={"ETag": _etag(meta["revision"])})


@api("flows.write", body="flow", tag="flows", responses={409: "stale revision", 428: "no If-Match"})
def save_flow(ctx: Context) -> Response:
    """Save the draft; If-Match names the revision the edit started from.

    Returns the new revision (and ETag) with who saved when, not the document. A stale save
    is refused with 409: the body holds the current draft (who saved it, when) and the id of
    the kept copy of yours."""
    base = _if_match(ctx)
    parsed = ctx.flow_document()
    saved = ctx.services.flows.save(
        ctx.path("flow_id"), parsed.data, base, ctx.actor, text=parsed.text
    )
    return _draft_response(saved, services=ctx.services, document=parsed.data)


@api("flows.write", tag="flows", responses={409: "live on an entry"})
def delete_flow(ctx: Context) -> dict[str, Any]:
    """Delete a draft (its published versions stay; a live flow cannot be deleted)."""
    ctx.services.flows.delete(ctx.path("flow_id"), ctx.actor)
    return {"ok": True}


@api("flows.read", tag="flows")
def get_conflict_copy(ctx: Context) -> dict[str, Any]:
    """A kept copy of a save that was refused as stale."""
    return ctx.services.flows.conflict_copy(ctx.path("flow_id"), int(ctx.path("conflict_id")))


@api("flows.read", body="flow", tag="flows")
def validate_flow(ctx: Context) -> dict[str, Any]:
    """Validate the saved draft, or the flow document in the body (unsaved edits).

    Problems carry node id, field pointer and, for a body, line and column."""
    flows = ctx.services.flows
    flow_id = ctx.path("flow_id")
    if not ctx.raw:
        return _validation(flows.validate(flow_id))
    parsed = ctx.flow_document()
    library = flows.library()
    if parsed.data.get("id") == flow_id:
        library.add(parsed.data)
    catalogue = ctx.services.prompts.catalogue(parsed.data)
    return _validation(
        validate_text(parsed, registry=ctx.services.registry, library=library, catalogue=catalogue)
    )


@api("flows.publish", body=PublishBody, tag="publishing", responses={409: "stale", 422: "errors"})
async def publish_flow(ctx: Context) -> dict[str, Any]:
    """Publish the saved draft on an entry (errors block; warnings are returned).

    Prompts without audio get TTS placeholders first; the audio of every prompt is pinned to
    the version. An entry whose policy requires approved recordings refuses a version with
    prompts still unapproved, and lists them."""
    body = ctx.body(PublishBody)
    flow_id = ctx.path("flow_id")
    flows, prompts = ctx.services.flows, ctx.services.prompts
    documents = await run_in_threadpool(flows.closure, flow_id)
    uses = prompt_uses(documents.values(), ctx.services.registry)
    made = await prompts.ensure_placeholders(uses)
    policy = await run_in_threadpool(prompts.policy, body.entry)
    states = await run_in_threadpool(prompts.describe, uses)
    if policy["require_approved"]:
        waiting = [i for i in states if i["status"] not in ("approved", "dynamic")]
        if waiting:
            raise ApiError(
                422,
                "publish.prompts_unapproved",
                f"入口 {body.entry} 要求所有提示都有审核通过的录音，还有 {len(waiting)} 个没有"
                "（见列表）",
                f"entry {body.entry} requires approved recordings of every prompt; "
                f"{len(waiting)} are not (see the list)",
                prompts=[
                    {k: i[k] for k in ("prompt_id", "language", "status", "text", "used_by")}
                    for i in waiting
                ],
            )

    plan = await run_in_threadpool(prompts.plan, uses)

    def pin(session: Any, result: Any) -> None:
        prompts.pin(session, result.flow_id, result.version, plan)

    result = await run_in_threadpool(
        lambda: flows.publish(
            flow_id,
            entry=body.entry,
            message=body.message,
            actor=ctx.actor,
            base_revision=body.base_revision,
            extra=pin,
            prompts_sha=prompts.fingerprint(plan),
        )
    )
    missing = [
        {"prompt_id": i["prompt_id"], "language": i["language"]}
        for i in states
        if i["status"] == "missing" and (i["prompt_id"], i["language"]) not in made["made"]
    ]
    return {
        "entry": result.entry,
        "flow_id": result.flow_id,
        "version": result.version,
        "previous_version": result.previous_version,
        "dependencies": result.dependencies,
        "new_versions": [{"flow_id": f, "version": v} for f, v in result.new_versions],
        "warnings": [p.to_json() for p in result.warnings],
        "prompts": {
            "placeholders_made": len(made["made"]),
            "tts_failed": made["failed"],
            "without_audio": missing,
        },
    }


@api("flows.read", tag="publishing")
def list_versions(ctx: Context) -> dict[str, Any]:
    """A flow's published versions, newest first, with the entries each is live on."""
    return {"versions": ctx.services.flows.versions(ctx.path("flow_id"))}


@api("flows.read", tag="publishing")
def get_version(ctx: Context) -> dict[str, Any]:
    """One published version's document."""
    flow_id = ctx.path("flow_id")
    return ctx.services.flows.version_document(flow_id, int(ctx.path("version")))


def _side(ctx: Context, flow_id: str, which: str) -> dict[str, Any]:
    """``draft``, a version number, or ``live:ENTRY``."""
    flows = ctx.services.flows
    if which == "draft":
        return flows.get(flow_id)["document"]
    if which.startswith("live:"):
        name = which[5:]
        for entry in flows.entries():
            if entry["entry"] == name:
                return flows.version_document(entry["flow_id"], entry["version"])
        raise ApiError(404, "entry.unknown", f"没有入口 {name}", f"no entry {name}")
    if which.isdigit():
        return flows.version_document(flow_id, int(which))
    raise ApiError(
        400,
        "diff.side",
        f"比较对象 {which!r} 无效：可用 draft、版本号或 live:入口",
        f"cannot compare {which!r}: use draft, a version number or live:ENTRY",
    )


@api("flows.read", tag="publishing")
def diff_flow(ctx: Context) -> dict[str, Any]:
    """What changes for callers between two versions (``from``/``to``: draft, N, live:ENTRY).

    Returns the semantic changes in zh/en beside the raw structural diff."""
    flow_id = ctx.path("flow_id")
    old = _side(ctx, flow_id, ctx.query("from") or "draft")
    new = _side(ctx, flow_id, ctx.query("to") or "draft")
    return semantic_diff(old, new, registry=ctx.services.registry).to_json()


# -- import / export ------------------------------------------------------------------------------
@api("flows.read", tag="flows")
def export_flow(ctx: Context) -> Response:
    """The flow and the sub-flows it calls, with the manifest of prompts they use."""
    flow_id = ctx.path("flow_id")
    documents = list(ctx.services.flows.closure(flow_id).values())
    uses = prompt_uses(documents, ctx.services.registry)
    manifest: dict[str, Any] = {}
    for item in ctx.services.prompts.describe(uses):
        if item["number_set"]:
            continue
        entry = manifest.setdefault(item["prompt_id"], {"text": {}, "status": {}, "used_by": []})
        entry["text"][item["language"]] = item["text"]
        entry["status"][item["language"]] = item["status"]
        for where in item["used_by"]:
            if where not in entry["used_by"]:
                entry["used_by"].append(where)
    bundle = {"format": EXPORT_FORMAT, "flows": documents, "prompts": manifest}
    return JSONResponse(
        bundle,
        headers={"Content-Disposition": f'attachment; filename="{flow_id}.ivrflow.json"'},
    )


@api("flows.write", body=ImportBody, tag="flows", responses={409: "a flow exists"})
def import_flows(ctx: Context) -> dict[str, Any]:
    """Import an export bundle as drafts, in one transaction (all of them or none)."""
    body = ctx.body(ImportBody)
    if body.format != EXPORT_FORMAT:
        raise ApiError(
            422,
            "import.format",
            f"不是 ivrflow 导出文件（format 应为 {EXPORT_FORMAT}）",
            f"not an ivrflow export (format must be {EXPORT_FORMAT})",
        )
    for document in body.flows:
        if len(canonical(document).encode()) > 1_048_576:
            raise ApiError(
                413,
                "flow.too_large",
                f"流程 {document.get('id')} 超过 1 MB",
                f"flow {document.get('id')} exceeds 1 MB",
            )
    imported = ctx.services.flows.import_many(
        body.flows, ctx.actor, replace=body.on_conflict == "replace"
    )
    return {"imported": imported}


# -- entries --------------------------------------------------------------------------------------
@api("flows.read", tag="publishing")
def list_entries(ctx: Context) -> dict[str, Any]:
    """Entries (dialled numbers / AGI paths) and the flow version each runs, with history."""
    return {"entries": ctx.services.flows.entries()}


@api("flows.publish", body=RollbackBody, tag="publishing", responses={404: "no such version"})
def rollback_entry(ctx: Context) -> dict[str, Any]:
    """Point an entry back at an earlier version of its flow."""
    body = ctx.body(RollbackBody)
    result = ctx.services.flows.rollback(
        ctx.path("entry"), body.version, message=body.message, actor=ctx.actor
    )
    return {
        "entry": result.entry,
        "flow_id": result.flow_id,
        "version": result.version,
        "previous_version": result.previous_version,
    }


@api("entries.manage", tag="publishing")
def delete_entry(ctx: Context) -> dict[str, Any]:
    """Remove an entry (calls to it then get IVRFLOW_STATUS=NOENTRY)."""
    ctx.services.flows.delete_entry(ctx.path("entry"), ctx.actor)
    return {"ok": True}


# -- plugin pages --------------------------------------------------------------------------------
@api("flows.read", tag="meta")
def plugin_pages(ctx: Context) -> dict[str, Any]:
    """The plugins' pages the signed-in user may see (the "业务数据 / Business data" section).

    Each page as the plugin described it (``nodes.plugins.PluginPage``: table columns, list
    URL, create form, row actions, filters); the create form and each action carry
    ``allowed``: whether this user's permissions let them use it. Pages needing a permission
    the user lacks are left out."""
    user = ctx.user
    shown = []
    for page in ctx.services.pages:
        if not user.can(page.permission):
            continue
        item = page.to_json()
        if item["create"] is not None:
            item["create"]["allowed"] = user.can(page.create.permission)  # type: ignore[union-attr]
        for action in item["actions"]:
            action["allowed"] = user.can(action["permission"])
        shown.append(item)
    return {"pages": shown}


# -- users and audit ---------------------------------------------------------------------------
@api("users.manage", tag="users")
def list_users(ctx: Context) -> dict[str, Any]:
    """Users and their roles."""
    return {"users": ctx.services.users.list(), "roles": ROLES}


@api("users.manage", body=NewUserBody, tag="users", responses={409: "exists"})
def create_user(ctx: Context) -> Response:
    """Create a user."""
    body = ctx.body(NewUserBody)
    user = ctx.services.users.create(
        body.username,
        body.password,
        body.roles,
        display_name=body.display_name,
        actor=ctx.user.username,
        ip=ctx.actor.ip,
    )
    return JSONResponse(user, status_code=201)


@api("users.manage", body=UserPatchBody, tag="users")
def update_user(ctx: Context) -> dict[str, Any]:
    """Change a user's roles, name, password or enabled state."""
    body = ctx.body(UserPatchBody)
    username = ctx.path("username")
    users = ctx.services.users
    if body.password is not None:
        users.set_password(username, body.password, actor=ctx.user.username, ip=ctx.actor.ip)
    return users.update(
        username,
        roles=body.roles,
        active=body.active,
        display_name=body.display_name,
        actor=ctx.user.username,
        ip=ctx.actor.ip,
    )


@api("audit.read", tag="users")
def audit_log(ctx: Context) -> dict[str, Any]:
    """The audit log, newest first (filters: action, actor, target; page with before)."""
    events = audit.list_events(
        ctx.services.engine,
        action=ctx.query("action"),
        actor=ctx.query("actor"),
        target=ctx.query("target"),
        before_id=ctx.query_int("before", None, lo=1),
        limit=ctx.query_int("limit", 100, lo=1, hi=1000) or 100,
    )
    return {"events": events}


routes: list[BaseRoute] = [
    Route("/api/health", health, methods=["GET"]),
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/session", session_info, methods=["GET"]),
    Route("/api/session/password", change_own_password, methods=["POST"]),
    Route("/api/node-types", node_types, methods=["GET"]),
    Route("/api/node-types/{node_type}/exits", node_type_exits, methods=["POST"]),
    Route("/api/schema/flow", flow_document_schema, methods=["GET"]),
    Route("/api/flows", list_flows, methods=["GET"]),
    Route("/api/flows", create_flow, methods=["POST"]),
    Route("/api/flows/import", import_flows, methods=["POST"]),
    Route("/api/flows/{flow_id}", get_flow, methods=["GET"]),
    Route("/api/flows/{flow_id}", save_flow, methods=["PUT"]),
    Route("/api/flows/{flow_id}", delete_flow, methods=["DELETE"]),
    Route("/api/flows/{flow_id}/conflicts/{conflict_id:int}", get_conflict_copy, methods=["GET"]),
    Route("/api/flows/{flow_id}/validate", validate_flow, methods=["POST"]),
    Route("/api/flows/{flow_id}/publish", publish_flow, methods=["POST"]),
    Route("/api/flows/{flow_id}/versions", list_versions, methods=["GET"]),
    Route("/api/flows/{flow_id}/versions/{version:int}", get_version, methods=["GET"]),
    Route("/api/flows/{flow_id}/diff", diff_flow, methods=["GET"]),
    Route("/api/flows/{flow_id}/export", export_flow, methods=["GET"]),
    Route("/api/entries", list_entries, methods=["GET"]),
    Route("/api/entries/{entry}/rollback", rollback_entry, methods=["POST"]),
    Route("/api/entries/{entry}", delete_entry, methods=["DELETE"]),
    Route("/api/plugin-pages", plugin_pages, methods=["GET"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{username}", update_user, methods=["PATCH"]),
    Route("/api/audit", audit_log, methods=["GET"]),
]
