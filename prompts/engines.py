"""The default audio engines of the prompt library: uploads converted by
:mod:`prompts.audio` (ffmpeg, hardened), placeholders spoken by :mod:`prompts.tts` (edge-tts
online, espeak-ng offline) through an on-disk cache."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from prompts.library import Converted, Converter, Speaker, Spoken
from prompts.tts import TtsCache, TtsEngine, default_tts
from runtime.agi.channel import Speech
from runtime.call import Prompt

__all__ = ["default_converter", "default_speaker", "runtime_speech"]

log = logging.getLogger("ivrflow.prompts")


def default_speaker(cache_dir: Path | str) -> Speaker:
    cache = TtsCache(Path(cache_dir), default_tts())

    async def speak(text: str, language: str) -> Spoken:
        speech = await cache.get_or_make(text, language)
        wav = await asyncio.to_thread(speech.path.read_bytes)
        return Spoken(
            wav=wav, duration_ms=speech.duration_ms, engine=speech.engine, voice=speech.voice
        )

    return speak


def default_converter(workdir: Path | str) -> Converter:
    """Uploads → 8 kHz WAV through :func:`prompts.audio.convert_upload`; the library keeps the
    audio itself (in the database), so the converter's files are removed at once."""
    from prompts.audio import AudioLimits, ConvertOptions, convert_upload

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    options = ConvertOptions(formats=("wav",), durable=False)

    async def convert(data: bytes) -> Converted:
        result = await convert_upload(data, limits=AudioLimits(), options=options, workdir=work)
        try:
            return Converted(
                wav=result.wav, duration_ms=result.duration_ms, format=str(result.format)
            )
        finally:
            for path in result.files.values():
                path.unlink(missing_ok=True)

    return convert


def runtime_speech(
    sounds_root: Path | str, *, timeout_s: float = 3.0, tts: TtsEngine | None = None
) -> Speech:
    """Dynamic prompts on Asterisk: the rendered text is spoken by TTS into
    ``<sounds>/ivrflow/tts/`` (cached by engine, voice and text) and played from there. A
    caller waits at most ``timeout_s``; after that the prompt is skipped (and reported
    missing) while synthesis finishes for the next caller."""
    root = Path(sounds_root)
    cache = TtsCache(root / "ivrflow" / "tts", tts or default_tts())

    async def speak(prompt: Prompt) -> str | None:
        try:
            async with asyncio.timeout(timeout_s):
                speech = await cache.get_or_make(prompt.text, prompt.language or "zh-CN")
        except Exception as exc:
            log.warning("dynamic prompt %r: no speech (%s)", prompt.id, exc)
            return None
        return speech.path.relative_to(root).with_suffix("").as_posix()

    return speak
