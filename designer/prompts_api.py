"""The prompt library's API: what each flow needs said and its state, the recorders'
worklist, uploads, approvals, playback in the browser, the prompts a version pinned, and the
per-entry publishing policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.problems import ApiError
from designer.web import Context, api
from prompts.library import LibraryError, PromptUse, prompt_uses

__all__ = ["MAX_UPLOAD_BYTES", "routes"]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ApproveBody(BaseModel):
    approved: bool = True


class PolicyBody(BaseModel):
    require_approved: bool


def _library_error(exc: LibraryError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message_zh, exc.message_en)


def _uses(ctx: Context, flow_id: str | None) -> dict[tuple[str, str], PromptUse]:
    flows = ctx.services.flows
    if flow_id:
        documents = list(flows.closure(flow_id).values())
    else:
        documents = list(flows.library().documents.values())
    return prompt_uses(documents, ctx.services.registry)


@api("flows.read", tag="prompts")
def list_prompts(ctx: Context) -> dict[str, Any]:
    """Every prompt the flows play (or one flow with ``?flow=ID``), per language, with its
    script text, status (missing, placeholder, recorded, approved) and where it is played."""
    items = ctx.services.prompts.describe(_uses(ctx, ctx.query("flow")))
    status = ctx.query("status")
    if status:
        items = [i for i in items if i["status"] == status]
    return {"prompts": items}


@api("flows.read", tag="prompts")
def worklist(ctx: Context) -> dict[str, Any]:
    """What the studio still has to record or approve for a flow (and its sub-flows)."""
    items = ctx.services.prompts.worklist(_uses(ctx, ctx.path("flow_id")))
    if ctx.query("numbers") != "1":
        items = [i for i in items if not i["number_set"]]
    return {"flow_id": ctx.path("flow_id"), "worklist": items}


@api("flows.read", tag="prompts")
def version_prompts(ctx: Context) -> dict[str, Any]:
    """The audio a published version plays, pinned when it was published (``?pending=1``:
    only what was not an approved recording then — that version's worklist)."""
    flow_id, version = ctx.path("flow_id"), int(ctx.path("version"))
    ctx.services.flows.version_document(flow_id, version)  # 404 for an unknown version
    pinned = ctx.services.prompts.pinned(flow_id, version)
    if ctx.query("pending") == "1":
        pinned = [p for p in pinned if p["status"] not in ("approved", "dynamic")]
    return {"prompts": pinned}


@api("flows.write", tag="prompts")
async def make_placeholders(ctx: Context) -> dict[str, Any]:
    """Make TTS placeholders now for a flow's prompts that have no audio (also done on
    publish, and in the background after each save)."""
    uses = await run_in_threadpool(_uses, ctx, ctx.path("flow_id"))
    made = await ctx.services.prompts.ensure_placeholders(uses)
    return {"made": [list(k) for k in made["made"]], "failed": made["failed"]}


@api("prompts.write", body="audio", tag="prompts", responses={413: "over 20 MB", 422: "not audio"})
async def upload_recording(ctx: Context) -> dict[str, Any]:
    """Upload a recording (wav, mp3, m4a/aac, ogg/opus, flac, amr …; the body is the file).

    The type is read from the content, not the name; ``X-Filename`` names the original for
    display only. It is converted to 8 kHz mono for Asterisk, loudness-normalised, and
    becomes the prompt's audio (status ``recorded``)."""
    from prompts.audio import safe_display_name

    prompt_id, language = ctx.path("prompt_id"), ctx.path("language")
    if len(ctx.raw) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "audio.too_large", "录音文件超过 20 MB", "the recording exceeds 20 MB")
    uses = await run_in_threadpool(_uses, ctx, None)
    use = uses.get((prompt_id, language))
    actor = ctx.actor

    def audit_it(session: Any, variant: Any) -> None:
        audit.record(
            session,
            "prompt.upload",
            actor=actor.username,
            target=f"{prompt_id}@{language}",
            ip=actor.ip,
            detail={"bytes": len(ctx.raw), "format": variant.original_format},
        )

    try:
        return await ctx.services.prompts.upload(
            prompt_id,
            language,
            ctx.raw,
            # the browser percent-encodes the name (headers are Latin-1): 录音.wav arrives whole
            display_name=safe_display_name(unquote(ctx.request.headers.get("x-filename", ""))),
            actor=actor.username,
            script_text=use.text if use else None,
            on_commit=audit_it,
        )
    except LibraryError as exc:
        raise _library_error(exc) from None
    except Exception as exc:
        code = getattr(exc, "code", None)
        if code and hasattr(exc, "message_zh"):
            status = 413 if code in ("audio.too_large", "audio.too_long") else 422
            if code in ("audio.ffmpeg_missing", "audio.timeout"):
                status = 503
            raise ApiError(status, code, exc.message_zh, exc.message_en) from None  # type: ignore[attr-defined]
        raise


@api("prompts.write", body=ApproveBody, tag="prompts", responses={409: "no recording"})
def approve_recording(ctx: Context) -> dict[str, Any]:
    """Approve a recording (``{"approved": false}`` takes the approval back)."""
    body = ctx.body(ApproveBody)
    prompt_id, language = ctx.path("prompt_id"), ctx.path("language")
    actor = ctx.actor

    def audit_it(session: Any, _variant: Any) -> None:
        audit.record(
            session,
            "prompt.approve" if body.approved else "prompt.unapprove",
            actor=actor.username,
            target=f"{prompt_id}@{language}",
            ip=actor.ip,
        )

    try:
        return ctx.services.prompts.approve(
            prompt_id, language, actor=actor.username, approved=body.approved, on_commit=audit_it
        )
    except LibraryError as exc:
        raise _library_error(exc) from None


@api("flows.read", tag="prompts")
def prompt_audio(ctx: Context) -> Response:
    """The prompt's current audio as 8 kHz WAV (``?original=1``: the uploaded file)."""
    library = ctx.services.prompts
    variant = library.variant(ctx.path("prompt_id"), ctx.path("language"))
    if variant is None or not variant.audio_sha:
        raise ApiError(404, "prompt.no_audio", "这个提示还没有音频", "this prompt has no audio yet")
    if ctx.query("original") == "1":
        path = library.original_path(variant)
        if path is None:
            raise ApiError(404, "prompt.no_original", "没有上传的原始文件", "no uploaded original")
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=f"{variant.prompt_id.replace('/', '_')}.{variant.original_format}",
        )
    return Response(library.audio(variant.audio_sha), media_type="audio/wav")


@api("flows.read", tag="prompts")
def audio_by_hash(ctx: Context) -> Response:
    """Audio by its SHA-256 (what a version pinned), as 8 kHz WAV."""
    try:
        return Response(ctx.services.prompts.audio(ctx.path("sha")), media_type="audio/wav")
    except LibraryError as exc:
        raise _library_error(exc) from None


@api("flows.read", tag="prompts")
def get_policy(ctx: Context) -> dict[str, Any]:
    """An entry's publishing policy."""
    return ctx.services.prompts.policy(ctx.path("entry"))


@api("entries.manage", body=PolicyBody, tag="prompts")
def set_policy(ctx: Context) -> JSONResponse:
    """Set an entry's publishing policy (admin): require approved recordings or not."""
    from sqlmodel import Session

    body = ctx.body(PolicyBody)
    entry = ctx.path("entry")
    result = ctx.services.prompts.set_policy(
        entry, require_approved=body.require_approved, actor=ctx.actor.username
    )
    with Session(ctx.services.engine) as session:
        audit.record(
            session,
            "entry.policy",
            actor=ctx.actor.username,
            target=entry,
            ip=ctx.actor.ip,
            detail={"require_approved": body.require_approved},
        )
        session.commit()
    return JSONResponse(result)


routes: list[BaseRoute] = [
    Route("/api/prompts", list_prompts, methods=["GET"]),
    Route("/api/flows/{flow_id}/worklist", worklist, methods=["GET"]),
    Route("/api/flows/{flow_id}/placeholders", make_placeholders, methods=["POST"]),
    Route("/api/flows/{flow_id}/versions/{version:int}/prompts", version_prompts, methods=["GET"]),
    Route("/api/prompts/{language}/{prompt_id:path}/recording", upload_recording, methods=["POST"]),
    Route("/api/prompts/{language}/{prompt_id:path}/approval", approve_recording, methods=["POST"]),
    Route("/api/prompts/{language}/{prompt_id:path}/audio", prompt_audio, methods=["GET"]),
    Route("/api/audio/{sha}", audio_by_hash, methods=["GET"]),
    Route("/api/entries/{entry}/policy", get_policy, methods=["GET"]),
    Route("/api/entries/{entry}/policy", set_policy, methods=["PUT"]),
]
