"""The prompt library: what every flow needs said, what exists, and what a version pins.

* :func:`prompt_uses` finds every (prompt, language) a set of flows plays, with its script
  text and the nodes that play it — the number prompt set of each language included.
* :class:`PromptLibrary` keeps the variants: TTS placeholders made automatically from the
  script text, uploads converted to Asterisk's format, approvals; the worklist for recorders;
  and the pins of a published version.
* Audio is converted and synthesised by injected async callables (:class:`Converter`,
  :class:`Speaker`), so the library is tested without ffmpeg or a TTS engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from nodes.registry import Registry, default_registry
from prompts.catalogue import PromptCatalogue, PromptStatus, _by_primary
from prompts.models import AudioBlob, EntryPolicy, PromptVariant, VariantStatus, VersionPrompt
from prompts.say import prompt_set
from runtime.store.db import write_lock
from runtime.store.models import db_time
from runtime.template import PLACEHOLDER_RE

__all__ = [
    "Converted",
    "LibraryCatalogue",
    "LibraryError",
    "PromptLibrary",
    "PromptUse",
    "Spoken",
    "prompt_uses",
]

Key = tuple[str, str]  # (prompt id, language)


class LibraryError(Exception):
    def __init__(self, status: int, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.status = status
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass
class Converted:
    """An upload converted for Asterisk."""

    wav: bytes
    duration_ms: int
    format: str
    """The format sniffed from the content (wav, mp3, m4a, ogg, flac, amr …)."""


@dataclass
class Spoken:
    """A TTS placeholder."""

    wav: bytes
    duration_ms: int
    engine: str
    voice: str


Converter = Callable[[bytes], Awaitable[Converted]]
Speaker = Callable[[str, str], Awaitable[Spoken]]
"""``speaker(text, language)``"""


@dataclass
class PromptUse:
    prompt_id: str
    language: str
    text: str | None
    used_by: list[dict[str, str]] = field(default_factory=list)
    """``{"flow": id, "node": id}`` for each node that plays it."""
    number_set: bool = False
    dynamic: bool = False
    """The script has ``{{variables}}``: spoken by TTS at run time, never recorded."""


def _languages(document: Mapping[str, Any]) -> list[str]:
    langs = document.get("languages")
    if isinstance(langs, list):
        found = [lang for lang in langs if isinstance(lang, str)]
        if found:
            return found
    return ["zh-CN"]


def prompt_uses(
    documents: Iterable[Mapping[str, Any]], registry: Registry | None = None
) -> dict[Key, PromptUse]:
    """Every (prompt, language) the flows play, with script text and where it is played."""
    registry = registry or default_registry()
    uses: dict[Key, PromptUse] = {}
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        languages = _languages(document)
        declared = document.get("prompts") if isinstance(document.get("prompts"), dict) else {}
        nodes = document.get("nodes") if isinstance(document.get("nodes"), dict) else {}
        for node_id, node in nodes.items():
            if not isinstance(node, dict):
                continue
            cls = registry.get(node.get("type", ""))
            config = node.get("config") if isinstance(node.get("config"), dict) else {}
            if cls is None:
                continue
            try:
                refs = cls.references(config)
            except Exception:  # a broken config: the validator reports it
                continue
            for ref in refs:
                if ref.kind != "prompt" or not isinstance(ref.value, str):
                    continue
                entry = declared.get(ref.value)
                texts = entry.get("text", {}) if isinstance(entry, dict) else {}
                for language in languages:
                    text = None
                    if isinstance(texts, dict):
                        text = texts.get(language) or _by_primary(texts, language)
                    use = uses.setdefault(
                        (ref.value, language), PromptUse(ref.value, language, text)
                    )
                    use.text = use.text or text
                    use.dynamic = bool(use.text and PLACEHOLDER_RE.search(use.text))
                    where = {"flow": str(document.get("id", "")), "node": str(node_id)}
                    if where not in use.used_by:
                        use.used_by.append(where)
        for language in languages:
            try:
                numbers = prompt_set(language)
            except ValueError:
                continue
            for prompt_id, text in numbers.items():
                uses.setdefault(
                    (prompt_id, language), PromptUse(prompt_id, language, text, number_set=True)
                )
    return uses


class LibraryCatalogue(PromptCatalogue):
    """What the validator asks: a prompt exists when the flow has its script text (a TTS
    placeholder can say it) or the library has audio for it."""

    def __init__(self, flow_prompts: Mapping[str, Any], variants: Mapping[Key, str]) -> None:
        from prompts.catalogue import FlowPromptCatalogue

        self._flow = FlowPromptCatalogue(flow_prompts)
        self._variants = variants

    def text(self, prompt_id: str, language: str) -> str | None:
        return self._flow.text(prompt_id, language)

    def status(self, prompt_id: str, language: str) -> PromptStatus:
        status = self._variants.get((prompt_id, language))
        if status == VariantStatus.APPROVED:
            return PromptStatus.APPROVED
        if status == VariantStatus.RECORDED:
            return PromptStatus.RECORDED
        if status == VariantStatus.PLACEHOLDER or self.text(prompt_id, language):
            return PromptStatus.PLACEHOLDER
        return PromptStatus.MISSING


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_key(prompt_id: str, language: str) -> None:
    ok_id = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,127}", prompt_id or "") and not any(
        part in ("", ".", "..") for part in prompt_id.split("/")
    )
    if not ok_id:
        raise LibraryError(
            422,
            "prompt.id",
            f"提示编号无效：{prompt_id!r}",
            f"invalid prompt id: {prompt_id!r}",
        )
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language or ""):
        raise LibraryError(
            422, "prompt.language", f"语言无效：{language!r}", f"invalid language: {language!r}"
        )


class PromptLibrary:
    def __init__(
        self,
        engine: Engine,
        media_dir: Path,
        *,
        converter: Converter | None = None,
        speaker: Speaker | None = None,
        registry: Registry | None = None,
        tts_concurrency: int = 4,
    ) -> None:
        self.engine = engine
        self.media_dir = Path(media_dir)
        self.converter = converter
        self.speaker = speaker
        self.registry = registry or default_registry()
        self.tts_concurrency = tts_concurrency
        self._background: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    # -- reading -----------------------------------------------------------------------------
    def statuses(self) -> dict[Key, str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(PromptVariant.prompt_id, PromptVariant.language, PromptVariant.status)
            ).all()
        return {(p, lang): s for p, lang, s in rows}

    def catalogue(self, document: Mapping[str, Any]) -> LibraryCatalogue:
        prompts = document.get("prompts") if isinstance(document.get("prompts"), dict) else {}
        return LibraryCatalogue(prompts, self.statuses())

    def variant(self, prompt_id: str, language: str) -> PromptVariant | None:
        with Session(self.engine) as session:
            return session.exec(
                select(PromptVariant).where(
                    PromptVariant.prompt_id == prompt_id, PromptVariant.language == language
                )
            ).first()

    def audio(self, sha: str) -> bytes:
        with Session(self.engine) as session:
            blob = session.get(AudioBlob, sha)
            if blob is None:
                raise LibraryError(404, "audio.unknown", "没有这段音频", "no such audio")
            return blob.wav

    def original_path(self, variant: PromptVariant) -> Path | None:
        if not variant.original_sha:
            return None
        path = self.media_dir / "originals" / f"{variant.original_sha}.{variant.original_format}"
        return path if path.is_file() else None

    @staticmethod
    def _describe(use: PromptUse | None, variant: PromptVariant | None, key: Key) -> dict[str, Any]:
        text = use.text if use else None
        # no audio yet = missing (with script text, a placeholder can still be made)
        status = variant.status if variant and variant.audio_sha else "missing"
        if use is not None and use.dynamic:
            status = "dynamic"  # spoken by TTS at run time
        outdated = bool(
            variant
            and variant.source == "upload"
            and text is not None
            and variant.spoken_text
            and variant.spoken_text != text
        )
        stale_placeholder = bool(
            variant and variant.source == "tts" and text is not None and variant.spoken_text != text
        )
        return {
            "prompt_id": key[0],
            "language": key[1],
            "text": text,
            "status": status,
            "source": variant.source if variant else None,
            "outdated": outdated,
            "stale_placeholder": stale_placeholder,
            "duration_ms": variant.duration_ms if variant else None,
            "audio_sha": variant.audio_sha if variant else None,
            "recorded_by": variant.recorded_by if variant else "",
            "recorded_at": db_time(variant.recorded_at).isoformat()
            if variant and variant.recorded_at
            else None,
            "approved_by": variant.approved_by if variant else "",
            "original_name": variant.original_name if variant else "",
            "used_by": use.used_by if use else [],
            "number_set": use.number_set if use else False,
        }

    def describe(self, uses: Mapping[Key, PromptUse]) -> list[dict[str, Any]]:
        """Every used prompt with its state (sorted: flow prompts first, then numbers)."""
        with Session(self.engine) as session:
            variants = {
                (v.prompt_id, v.language): v for v in session.exec(select(PromptVariant)).all()
            }
        items = [self._describe(use, variants.get(key), key) for key, use in uses.items()]
        items.sort(key=lambda i: (i["number_set"], i["prompt_id"], i["language"]))
        return items

    def worklist(self, uses: Mapping[Key, PromptUse]) -> list[dict[str, Any]]:
        """What the studio still has to do: not approved, or recorded before the script
        changed."""
        return [
            item
            for item in self.describe(uses)
            if item["status"] not in (VariantStatus.APPROVED, "dynamic") or item["outdated"]
        ]

    # -- placeholders ------------------------------------------------------------------------
    async def ensure_placeholders(
        self, uses: Mapping[Key, PromptUse], *, background: bool = False
    ) -> dict[str, Any]:
        """Make a TTS placeholder for every used prompt that has script text and no audio
        (or a placeholder of an older text). Returns what was made and what failed."""
        slots = self._background_slots() if background else asyncio.Semaphore(self.tts_concurrency)
        statuses = await asyncio.to_thread(self._variants_by_key, {key[0] for key in uses})
        wanted = [
            use
            for key, use in uses.items()
            if use.text
            and not use.dynamic
            and (
                key not in statuses or (statuses[key][0] == "tts" and statuses[key][1] != use.text)
            )
        ]
        made: list[Key] = []
        failed: list[dict[str, str]] = []
        if not wanted:
            return {"made": made, "failed": failed}
        if self.speaker is None:
            failed = [
                {"prompt_id": u.prompt_id, "language": u.language, "error": "no TTS engine"}
                for u in wanted
            ]
            return {"made": made, "failed": failed}

        async def one(use: PromptUse) -> None:
            async with slots:
                assert self.speaker is not None and use.text
                try:
                    spoken = await self.speaker(use.text, use.language)
                except Exception as exc:  # an engine failing is reported, never fatal
                    failed.append(
                        {"prompt_id": use.prompt_id, "language": use.language, "error": str(exc)}
                    )
                    return
            await asyncio.to_thread(self._store_placeholder, use, spoken)
            made.append((use.prompt_id, use.language))

        await asyncio.gather(*(one(u) for u in wanted))
        return {"made": sorted(made), "failed": failed}

    def _background_slots(self) -> asyncio.Semaphore:
        """Background placeholders, from every flow saved, make one synthesis at a time in
        the process, so editors' requests keep the CPU they need. (One semaphore per event
        loop: a library can outlive a loop in tests.)"""
        loop = asyncio.get_running_loop()
        if self._background is None or self._background[0] is not loop:
            self._background = (loop, asyncio.Semaphore(1))
        return self._background[1]

    def _variants_by_key(self, prompt_ids: set[str]) -> dict[Key, tuple[str, str]]:
        """(source, spoken text) of the variants of ``prompt_ids`` only (not the library)."""
        found: dict[Key, tuple[str, str]] = {}
        ids = sorted(prompt_ids)
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):  # bounded IN lists
                rows = session.exec(
                    select(
                        PromptVariant.prompt_id,
                        PromptVariant.language,
                        PromptVariant.source,
                        PromptVariant.spoken_text,
                    ).where(col(PromptVariant.prompt_id).in_(ids[start : start + 500]))
                ).all()
                found.update({(p, lang): (src, text) for p, lang, src, text in rows})
        return found

    def _store_blob(self, session: Session, wav: bytes, duration_ms: int) -> str:
        """Store audio once by its hash; two writers storing the same audio at once is fine."""
        sha = _sha(wav)
        values = {"sha256": sha, "wav": wav, "duration_ms": duration_ms, "created_at": db_time()}
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        session.exec(upsert(AudioBlob).values(**values).on_conflict_do_nothing())  # type: ignore[call-overload]
        return sha

    def _store_placeholder(self, use: PromptUse, spoken: Spoken) -> None:
        with write_lock(self.engine), Session(self.engine) as session:
            sha = self._store_blob(session, spoken.wav, spoken.duration_ms)
            variant = session.exec(
                select(PromptVariant).where(
                    PromptVariant.prompt_id == use.prompt_id,
                    PromptVariant.language == use.language,
                )
            ).first()
            if variant is not None and variant.source == "upload":
                return  # a recording arrived meanwhile: it wins
            variant = variant or PromptVariant(
                prompt_id=use.prompt_id,
                language=use.language,
                status=VariantStatus.PLACEHOLDER,
                updated_at=db_time(),
            )
            variant.status = VariantStatus.PLACEHOLDER
            variant.source = "tts"
            variant.audio_sha = sha
            variant.tts_engine = spoken.engine[:32]
            variant.tts_voice = spoken.voice[:64]
            variant.spoken_text = use.text or ""
            variant.duration_ms = spoken.duration_ms
            variant.updated_at = db_time()
            session.add(variant)
            session.commit()

    # -- recordings --------------------------------------------------------------------------
    async def upload(
        self,
        prompt_id: str,
        language: str,
        data: bytes,
        *,
        display_name: str,
        actor: str,
        script_text: str | None = None,
        on_commit: Callable[[Session, PromptVariant], None] | None = None,
    ) -> dict[str, Any]:
        """Convert and store a recording; the variant becomes ``recorded``."""
        _check_key(prompt_id, language)
        if self.converter is None:
            raise LibraryError(
                503, "audio.unavailable", "音频转换不可用", "audio conversion unavailable"
            )
        converted = await self.converter(data)
        original_sha = _sha(data)
        fmt = "".join(ch for ch in converted.format if ch.isalnum())[:16] or "bin"
        original = self.media_dir / "originals" / f"{original_sha}.{fmt}"
        if not original.exists():
            await asyncio.to_thread(_write_atomic, original, data)

        def store() -> dict[str, Any]:
            with write_lock(self.engine), Session(self.engine) as session:
                sha = self._store_blob(session, converted.wav, converted.duration_ms)
                variant = session.exec(
                    select(PromptVariant).where(
                        PromptVariant.prompt_id == prompt_id, PromptVariant.language == language
                    )
                ).first() or PromptVariant(
                    prompt_id=prompt_id,
                    language=language,
                    status=VariantStatus.RECORDED,
                    updated_at=db_time(),
                )
                now = db_time()
                variant.status = VariantStatus.RECORDED
                variant.source = "upload"
                variant.audio_sha = sha
                variant.tts_engine = variant.tts_voice = ""
                variant.spoken_text = script_text or ""
                variant.duration_ms = converted.duration_ms
                variant.original_name = display_name[:200]
                variant.original_format = fmt
                variant.original_sha = original_sha
                variant.original_bytes = len(data)
                variant.recorded_by = actor[:100]
                variant.recorded_at = now
                variant.approved_by = ""
                variant.approved_at = None
                variant.updated_at = now
                session.add(variant)
                if on_commit is not None:
                    on_commit(session, variant)
                session.commit()
                session.refresh(variant)
                return self._describe(None, variant, (prompt_id, language))

        return await asyncio.to_thread(store)

    def approve(
        self,
        prompt_id: str,
        language: str,
        *,
        actor: str,
        approved: bool = True,
        on_commit: Callable[[Session, PromptVariant], None] | None = None,
    ) -> dict[str, Any]:
        """Approve a recording (or take the approval back)."""
        with write_lock(self.engine), Session(self.engine) as session:
            variant = session.exec(
                select(PromptVariant).where(
                    PromptVariant.prompt_id == prompt_id, PromptVariant.language == language
                )
            ).first()
            if variant is None or variant.source != "upload":
                raise LibraryError(
                    409,
                    "prompt.not_recorded",
                    f"{prompt_id}（{language}）还没有录音，不能审核",
                    f"{prompt_id} ({language}) has no recording to approve",
                )
            now = db_time()
            variant.status = VariantStatus.APPROVED if approved else VariantStatus.RECORDED
            variant.approved_by = actor[:100] if approved else ""
            variant.approved_at = now if approved else None
            variant.updated_at = now
            session.add(variant)
            if on_commit is not None:
                on_commit(session, variant)
            session.commit()
            session.refresh(variant)
            return self._describe(None, variant, (prompt_id, language))

    # -- versions ------------------------------------------------------------------------------
    def plan(self, uses: Mapping[Key, PromptUse]) -> list[tuple[str, str, str | None, str]]:
        """What a version published now would pin: (prompt, language, audio sha, status)."""
        with Session(self.engine) as session:
            variants = {
                (v.prompt_id, v.language): v for v in session.exec(select(PromptVariant)).all()
            }
        plan = []
        for key in sorted(uses):
            variant = variants.get(key)
            if uses[key].dynamic:
                plan.append((key[0], key[1], None, "dynamic"))
            elif variant is not None and variant.audio_sha:
                plan.append((key[0], key[1], variant.audio_sha, variant.status))
            else:
                plan.append((key[0], key[1], None, "missing"))
        return plan

    @staticmethod
    def fingerprint(plan: list[tuple[str, str, str | None, str]]) -> str:
        text = "\n".join(f"{p}\t{lang}\t{sha or ''}\t{status}" for p, lang, sha, status in plan)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def pin(
        self,
        session: Session,
        flow_id: str,
        version: int,
        plan: list[tuple[str, str, str | None, str]],
    ) -> int:
        """Pin ``plan`` (from :meth:`plan`) to a version inside the publishing transaction. A
        version published again unchanged (same document, same audio) keeps its pins."""
        existing = session.exec(
            select(VersionPrompt).where(
                VersionPrompt.flow_id == flow_id, VersionPrompt.version == version
            )
        ).first()
        if existing is not None:
            return 0
        for prompt_id, language, sha, status in plan:
            session.add(
                VersionPrompt(
                    flow_id=flow_id,
                    version=version,
                    prompt_id=prompt_id,
                    language=language,
                    audio_sha=sha,
                    status=status,
                )
            )
        return len(plan)

    def pinned(self, flow_id: str, version: int) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(VersionPrompt)
                .where(VersionPrompt.flow_id == flow_id, VersionPrompt.version == version)
                .order_by(col(VersionPrompt.prompt_id), col(VersionPrompt.language))
            ).all()
            return [
                {
                    "prompt_id": r.prompt_id,
                    "language": r.language,
                    "status": r.status,
                    "audio_sha": r.audio_sha,
                }
                for r in rows
            ]

    # -- policies --------------------------------------------------------------------------------
    def policy(self, entry: str) -> dict[str, Any]:
        with Session(self.engine) as session:
            row = session.get(EntryPolicy, entry)
            return {
                "entry": entry,
                "require_approved": bool(row and row.require_approved),
                "updated_by": row.updated_by if row else "",
            }

    def set_policy(self, entry: str, *, require_approved: bool, actor: str) -> dict[str, Any]:
        with Session(self.engine) as session:
            row = session.get(EntryPolicy, entry) or EntryPolicy(entry=entry, updated_at=db_time())
            row.require_approved = require_approved
            row.updated_by = actor[:100]
            row.updated_at = db_time()
            session.add(row)
            session.commit()
        return self.policy(entry)
