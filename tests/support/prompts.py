"""Fakes for the prompt library's audio edges: a converter that accepts WAV only and a TTS
speaker that counts its calls — so library and API tests run without ffmpeg or espeak-ng."""

from __future__ import annotations

import io
import math
import struct
import wave

from prompts.library import Converted, Spoken


def tone_wav(ms: int = 300, rate: int = 8000, freq: float = 440.0) -> bytes:
    frames = int(rate * ms / 1000)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
        for i in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


class FakeAudioError(Exception):
    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


async def fake_converter(data: bytes) -> Converted:
    if not data:
        raise FakeAudioError("audio.empty", "文件为空", "the file is empty")
    if not data.startswith(b"RIFF"):
        raise FakeAudioError("audio.unknown_format", "不是音频文件", "not an audio file")
    with wave.open(io.BytesIO(data)) as reader:
        duration = int(reader.getnframes() * 1000 / reader.getframerate())
    return Converted(wav=data, duration_ms=duration, format="wav")


class FakeSpeaker:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on

    async def __call__(self, text: str, language: str) -> Spoken:
        self.calls.append((text, language))
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("tts.timeout: the engine did not answer")
        wav = tone_wav(100 + 10 * len(text), freq=300 + len(text))
        return Spoken(wav=wav, duration_ms=100 + 10 * len(text), engine="fake", voice="v")
