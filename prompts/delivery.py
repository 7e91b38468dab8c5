"""Delivering a published version's prompts to Asterisk.

A version's audio is written once into Asterisk's sounds directory under a folder of its own,
``<sounds>/ivrflow/<flow>/v<version>/<language>/<prompt>.wav`` (and ``.sln``), from the audio
pinned at publish time. The folder is built beside its final place and renamed into it, so
Asterisk never sees half of it; it is never changed afterwards. A call plays the folder of the
version it runs, so it never hears a prompt of another version.

The runtime delivers a version before serving its first call (same host as Asterisk, or a
sounds directory Asterisk shares). For a runtime on another host, ``ivrflow prompts sync``
runs on the Asterisk host and delivers every live version from the database.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import wave
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from prompts.models import AudioBlob, VersionPrompt
from runtime.call import Prompt

__all__ = ["SoundsDir", "pcm_of_wav"]

log = logging.getLogger("ivrflow.prompts")


def pcm_of_wav(wav_bytes: bytes) -> bytes:
    """The raw signed-linear samples of a WAV (Asterisk's ``.sln``)."""
    with wave.open(BytesIO(wav_bytes)) as reader:
        return reader.readframes(reader.getnframes())


def _safe_parts(*parts: str) -> list[str]:
    out: list[str] = []
    for part in parts:
        for piece in part.split("/"):
            if piece in ("", ".", "..") or "\\" in piece or "\x00" in piece:
                raise ValueError(f"unsafe path component in {part!r}")
            out.append(piece)
    return out


class SoundsDir:
    """Versioned prompt folders under ``root`` (Asterisk's sounds directory)."""

    def __init__(self, root: Path | str, engine: Engine) -> None:
        self.root = Path(root)
        self.engine = engine
        self._done: set[tuple[str, int]] = set()

    def folder(self, flow_id: str, version: int) -> Path:
        return self.root.joinpath("ivrflow", *_safe_parts(flow_id), f"v{version}")

    def sound_name(self, flow_id: str, version: int, prompt: Prompt) -> str:
        """What STREAM FILE is given: relative to the sounds directory, no extension."""
        language = prompt.language or "und"
        return "/".join(
            ["ivrflow", *_safe_parts(flow_id), f"v{version}", *_safe_parts(language, prompt.id)]
        )

    def sound_for(self, flow_id: str, version: int) -> Callable[[Prompt], str]:
        def sound(prompt: Prompt) -> str:
            try:
                return self.sound_name(flow_id, version, prompt)
            except ValueError:
                return f"ivrflow/invalid/{flow_id}"

        return sound

    def deliver(self, flow_id: str, version: int) -> int:
        """Write the version's folder if it is not there yet; return the files written."""
        key = (flow_id, version)
        if key in self._done:
            return 0
        final = self.folder(flow_id, version)
        if final.is_dir():
            self._done.add(key)
            return 0
        with Session(self.engine) as session:
            pins = session.exec(
                select(VersionPrompt).where(
                    VersionPrompt.flow_id == flow_id, VersionPrompt.version == version
                )
            ).all()
            shas = {p.audio_sha for p in pins if p.audio_sha}
            blobs = (
                {
                    b.sha256: b.wav
                    for b in session.exec(select(AudioBlob).where(AudioBlob.sha256.in_(shas))).all()  # type: ignore[attr-defined]
                }
                if shas
                else {}
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".v{version}-"))
        written = 0
        try:
            for pin in pins:
                wav = blobs.get(pin.audio_sha or "")
                if wav is None:
                    continue
                try:
                    target = staging.joinpath(*_safe_parts(pin.language, pin.prompt_id))
                except ValueError:
                    log.warning("prompt %r: unsafe name, not delivered", pin.prompt_id)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                (target.parent / f"{target.name}.wav").write_bytes(wav)
                (target.parent / f"{target.name}.sln").write_bytes(pcm_of_wav(wav))
                written += 1
            for folder, _dirs, _files in os.walk(staging):
                os.chmod(folder, 0o755)
            try:
                os.rename(staging, final)
            except OSError:
                if not final.is_dir():  # another process won the race: fine
                    raise
                shutil.rmtree(staging, ignore_errors=True)
                written = 0
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._done.add(key)
        log.info("delivered %d prompts of %s v%d to %s", written, flow_id, version, final)
        return written
