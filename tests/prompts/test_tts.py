"""Tests for prompts.tts: number spelling, espeak-ng, edge-tts under a timeout, fallback, the
on-disk cache and placeholder generation. No network: edge-tts is always faked."""

from __future__ import annotations

import asyncio
import errno
import io
import math
import os
import shutil
import socket
import struct
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cn2an
import edge_tts
import pytest

from prompts.tts import (
    CachedSpeech,
    EdgeTts,
    EspeakTts,
    FallbackTts,
    TtsCache,
    TtsError,
    cache_key,
    generate_placeholders,
    number_prompts,
    spell_numbers,
    to_asterisk_wav,
    to_asterisk_wav_async,
    wav_duration_ms,
)

ESPEAK = shutil.which("espeak-ng")
FFMPEG = shutil.which("ffmpeg")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)"
)


# --------------------------------------------------------------------------- helpers


def make_wav(seconds: float = 0.2, rate: int = 8000, freq: float = 440.0) -> bytes:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def wav_info(data: bytes) -> tuple[int, int, int, int]:
    """(channels, rate, sample width, frames), checking the header sizes are the real ones."""
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    with wave.open(io.BytesIO(data), "rb") as wav:
        info = (wav.getnchannels(), wav.getframerate(), wav.getsampwidth(), wav.getnframes())
    assert info[3] * info[0] * info[2] == len(data) - 44
    return info


def files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


class FakeEngine:
    """A TtsEngine returning a tone whose length grows with the text; counts its calls."""

    audio_format = "wav"

    def __init__(
        self,
        name: str = "fake",
        *,
        delay: float = 0.0,
        fail: TtsError | None = None,
        fail_on: str | None = None,
    ) -> None:
        self.name = name
        self.delay = delay
        self.fail = fail
        self.fail_on = fail_on
        self.calls: list[tuple[str, str, str | None]] = []

    def available(self) -> bool:
        return True

    def resolve_voice(self, language: str, voice: str | None) -> str:
        return voice or f"{self.name}-default"

    async def synthesize(self, text: str, *, language: str, voice: str | None) -> bytes:
        self.calls.append((text, language, voice))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None and (self.fail_on is None or self.fail_on == text):
            raise self.fail
        return make_wav(0.1 + 0.01 * len(text))


class HangingCommunicate:
    """edge_tts.Communicate on a stalled network: the stream never yields."""

    closed = False
    made = 0

    def __init__(self, text: str, voice: str, **kwargs: Any) -> None:
        HangingCommunicate.made += 1

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        try:
            await asyncio.sleep(3600)
            yield {"type": "audio", "data": b""}
        finally:
            HangingCommunicate.closed = True


class OfflineCommunicate:
    """edge_tts.Communicate without DNS (what happens here: fails at once)."""

    made = 0

    def __init__(self, text: str, voice: str, **kwargs: Any) -> None:
        OfflineCommunicate.made += 1

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        raise socket.gaierror(-2, "Name or service not known")
        yield {}  # pragma: no cover - makes this an async generator


def process_gone(pid: int) -> bool:
    """No such process, or only its zombie (killed, waiting for init to reap it)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(") ", 1)[1].startswith("Z")


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


# --------------------------------------------------------------------------- number rules


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("请拨打12329", "请拨打一二三二九"),  # ≥ 5 digits: digit by digit
        ("3500元", "三千五百元"),  # amount: cardinal
        ("20000元", "二万元"),  # an amount stays a cardinal at any length
        ("1234.56元", "一千二百三十四元五角六分"),
        ("0.5元", "五角"),
        ("12,329元", "一万二千三百二十九元"),
        ("您的账号是0012345678", "您的账号是零零一二三四五六七八"),
        ("区号010", "区号零一零"),  # leading zero: digit by digit
        ("查询余额请按1，贷款请按2", "查询余额请按一，贷款请按二"),
        ("共1234笔", "共一千二百三十四笔"),
        ("1234", "一千二百三十四"),  # 4 digits, no unit: cardinal
        ("36个月", "三十六个月"),
        ("15万", "十五万"),
        ("利率3.25%", "利率百分之三点二五"),
        ("2026年10月1日", "二零二六年十月一日"),  # four digits before 年: a year
        ("3年", "三年"),
        ("12.50", "十二点五零"),
        ("2026-10-01 9:30", "二零二六年十月一日 九点三十分"),
        ("2:00", "两点"),
        ("１２３２９", "一二三二九"),  # full-width digits
        ("没有数字", "没有数字"),
    ],
)
def test_spell_numbers_zh(text: str, spoken: str) -> None:
    assert spell_numbers(text, "zh-CN") == spoken


@pytest.mark.parametrize("amount", ["3500", "20000", "10", "1001", "120000008"])
def test_zh_amounts_follow_cn2an(amount: str) -> None:
    assert spell_numbers(f"{amount}元", "zh") == cn2an.an2cn(amount, "low") + "元"


def test_spell_numbers_en() -> None:
    assert spell_numbers("Call 12329 or 010, 3500 yuan", "en-US") == (
        "Call 1 2 3 2 9 or 0 1 0, 3500 yuan"
    )


# --------------------------------------------------------------------------- espeak-ng


@needs_espeak
async def test_espeak_mandarin_wav() -> None:
    engine = EspeakTts()
    wav = await engine.synthesize("请拨打12329", language="zh-CN", voice=None)
    channels, rate, width, frames = wav_info(wav)
    assert (channels, rate, width) == (1, 22050, 2)
    assert 1.0 < frames / rate < 5.0
    assert wav_duration_ms(wav) == frames * 1000 // rate
    # the digits were written out before espeak-ng saw them
    assert wav == await engine.synthesize("请拨打一二三二九", language="zh", voice=None)
    raw = EspeakTts(spell_digits=False)
    assert wav != await raw.synthesize("请拨打12329", language="zh", voice=None)


@needs_espeak
async def test_espeak_english_wav() -> None:
    wav = await EspeakTts().synthesize(
        "Welcome to the housing fund hotline.", language="en", voice=None
    )
    channels, rate, width, frames = wav_info(wav)
    assert (channels, rate, width) == (1, 22050, 2)
    assert 1.0 < frames / rate < 5.0


def test_espeak_voices() -> None:
    engine = EspeakTts()
    assert engine.command(language="zh-CN")[1:3] == ["-v", "cmn-latn-pinyin"]
    assert engine.command(language="en-US")[1:3] == ["-v", "en-us"]
    # espeak-ng 1.51's cmn voice misreads Chinese characters: never used
    assert engine.resolve_voice("zh", "cmn") == "cmn-latn-pinyin"
    assert engine.resolve_voice("zh", "zh+f3") == "cmn-latn-pinyin+f3"
    assert engine.resolve_voice("en", "en-us+f3") == "en-us+f3"
    assert engine.resolve_voice("zh", "zh-CN-YunxiNeural") == "cmn-latn-pinyin"  # edge's voice


async def test_espeak_command_line_used(tmp_path: Path) -> None:
    fixture = tmp_path / "out.wav"
    fixture.write_bytes(make_wav(0.3, rate=22050))
    fake = script(
        tmp_path,
        "espeak-ng",
        f'printf "%s\\n" "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\ncat {fixture}',
    )
    wav = await EspeakTts(binary=fake).synthesize("请拨打12329", language="zh-CN", voice=None)
    assert wav_info(wav)[1] == 22050
    argv = (tmp_path / "argv").read_text().split("\n")
    assert argv[:2] == ["-v", "cmn-latn-pinyin"]
    assert "--stdout" in argv
    assert (tmp_path / "stdin").read_text(encoding="utf-8") == "请拨打一二三二九"


async def test_espeak_missing(tmp_path: Path) -> None:
    engine = EspeakTts(binary=str(tmp_path / "no-espeak-ng"))
    assert not engine.available()
    with pytest.raises(TtsError) as caught:
        await engine.synthesize("你好", language="zh", voice=None)
    assert caught.value.code == "tts.missing"
    assert caught.value.engine == "espeak"
    assert "no-espeak-ng" in caught.value.message_en


async def test_espeak_time_limit_kills_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = script(tmp_path, "espeak-ng", f"sleep 30 &\necho $! > {pid_file}\nwait")
    started = time.monotonic()
    with pytest.raises(TtsError) as caught:
        await EspeakTts(binary=fake, timeout=0.5).synthesize("你好", language="zh", voice=None)
    assert caught.value.code == "tts.timeout"
    assert time.monotonic() - started < 3
    assert process_gone(int(pid_file.read_text()))


async def test_espeak_failure(tmp_path: Path) -> None:
    fake = script(tmp_path, "espeak-ng", "echo 'no such voice' >&2\nexit 1")
    with pytest.raises(TtsError) as caught:
        await EspeakTts(binary=fake).synthesize("你好", language="zh", voice=None)
    assert caught.value.code == "tts.failed"
    assert "no such voice" in caught.value.message_en


async def test_invalid_text_and_language() -> None:
    engine = EspeakTts()
    for text, language in [("   ", "zh"), ("x" * 1001, "zh"), ("bonjour", "fr")]:
        with pytest.raises(TtsError) as caught:
            await engine.synthesize(text, language=language, voice=None)
        assert caught.value.code == "tts.invalid"


# --------------------------------------------------------------------------- edge-tts


async def test_edge_hanging_times_out_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_tts, "Communicate", HangingCommunicate)
    HangingCommunicate.closed = False
    started = time.monotonic()
    with pytest.raises(TtsError) as caught:
        await EdgeTts(timeout=0.2).synthesize("你好", language="zh-CN", voice=None)
    assert caught.value.code == "tts.timeout"
    assert caught.value.engine == "edge"
    assert time.monotonic() - started < 1.0
    assert HangingCommunicate.closed  # the stream (and its HTTP session) was closed


async def test_edge_offline() -> None:
    engine = EdgeTts(communicate=OfflineCommunicate)
    with pytest.raises(TtsError) as caught:
        await engine.synthesize("你好", language="zh-CN", voice=None)
    assert caught.value.code == "tts.offline"


async def test_edge_returns_mp3_with_the_chosen_voice() -> None:
    seen: list[tuple[str, str]] = []

    class Speaking:
        def __init__(self, text: str, voice: str, **kwargs: Any) -> None:
            seen.append((text, voice))

        async def stream(self) -> AsyncIterator[dict[str, Any]]:
            yield {"type": "audio", "data": b"ID3"}
            yield {"type": "SentenceBoundary", "offset": 0}
            yield {"type": "audio", "data": b"\xff\xfb"}

    engine = EdgeTts(communicate=Speaking, voices={"en": "en-GB-SoniaNeural"})
    assert engine.audio_format == "mp3"
    assert await engine.synthesize("请拨打12329", language="zh", voice=None) == b"ID3\xff\xfb"
    await engine.synthesize("Hello", language="en", voice=None)
    await engine.synthesize("你好", language="zh", voice="zh-CN-YunxiNeural")
    assert seen == [
        ("请拨打一二三二九", "zh-CN-XiaoxiaoNeural"),
        ("Hello", "en-GB-SoniaNeural"),
        ("你好", "zh-CN-YunxiNeural"),
    ]


# --------------------------------------------------------------------------- fallback


@needs_espeak
async def test_edge_offline_falls_back_to_espeak() -> None:
    OfflineCommunicate.made = 0
    chain = FallbackTts([EdgeTts(communicate=OfflineCommunicate), EspeakTts()])
    spoken = await chain.synthesize("请拨打12329", language="zh-CN")
    assert (spoken.engine, spoken.voice, spoken.audio_format) == (
        "espeak",
        "cmn-latn-pinyin",
        "wav",
    )
    assert [failure.code for failure in spoken.failures] == ["tts.offline"]
    assert wav_info(spoken.audio)[1] == 22050
    # edge is not asked again while it cools down
    again = await chain.synthesize("你好", language="zh-CN")
    assert again.engine == "espeak"
    assert OfflineCommunicate.made == 1


async def test_hanging_edge_falls_back_after_its_time_limit() -> None:
    HangingCommunicate.made = 0
    edge = EdgeTts(timeout=0.2, communicate=HangingCommunicate)
    chain = FallbackTts([edge, FakeEngine("espeak")])
    started = time.monotonic()
    spoken = await chain.synthesize("你好", language="zh")
    assert spoken.engine == "espeak"
    assert [failure.code for failure in spoken.failures] == ["tts.timeout"]
    assert time.monotonic() - started < 1.0
    # the next request does not wait for edge again
    assert HangingCommunicate.made == 1
    assert (await chain.synthesize("再见", language="zh")).engine == "espeak"
    assert HangingCommunicate.made == 1


async def test_every_engine_failing_lists_each_reason(tmp_path: Path) -> None:
    chain = FallbackTts(
        [EdgeTts(communicate=OfflineCommunicate), EspeakTts(binary=str(tmp_path / "none"))]
    )
    with pytest.raises(TtsError) as caught:
        await chain.synthesize("你好", language="zh")
    error = caught.value
    assert error.code == "tts.all_failed"
    assert {name: reason.code for name, reason in error.reasons.items()} == {
        "edge": "tts.offline",
        "espeak": "tts.missing",
    }
    assert "edge: tts.offline" in error.message_en
    assert "espeak: tts.missing" in error.message_en
    assert "edge：tts.offline" in error.message_zh
    # both cooling down: both are tried again rather than failing without trying
    OfflineCommunicate.made = 0
    with pytest.raises(TtsError):
        await chain.synthesize("你好", language="zh")
    assert OfflineCommunicate.made == 1


# --------------------------------------------------------------------------- conversion


@needs_ffmpeg
def test_to_asterisk_wav_resamples() -> None:
    wav = to_asterisk_wav(make_wav(0.5, rate=22050))
    assert wav_info(wav)[:3] == (1, 8000, 2)
    assert abs(wav_duration_ms(wav) - 500) <= 5


@pytest.fixture
def mp3() -> bytes:
    """Half a second of MP3 at 24 kHz, as edge-tts sends."""
    return subprocess.run(
        [FFMPEG or "ffmpeg", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-f", "mp3", "-"],
        input=make_wav(0.5, rate=24000),
        capture_output=True,
        check=True,
    ).stdout


@needs_ffmpeg
async def test_to_asterisk_wav_async_reads_mp3(mp3: bytes) -> None:
    wav = await to_asterisk_wav_async(mp3, input_format="mp3")
    assert wav_info(wav)[:3] == (1, 8000, 2)
    assert 400 <= wav_duration_ms(wav) <= 600


async def test_conversion_errors(tmp_path: Path) -> None:
    already = make_wav(0.2)  # 8 kHz mono 16-bit: passed through, no ffmpeg needed
    assert to_asterisk_wav(already, ffmpeg=str(tmp_path / "none")) == already
    with pytest.raises(TtsError) as caught:
        await to_asterisk_wav_async(make_wav(0.2, rate=16000), ffmpeg=str(tmp_path / "none"))
    assert caught.value.code == "tts.missing"
    if FFMPEG is not None:
        with pytest.raises(TtsError) as caught:
            await to_asterisk_wav_async(b"this is not audio")
        assert caught.value.code == "tts.failed"


# --------------------------------------------------------------------------- cache


def test_cache_key_depends_on_engine_voice_language_and_text() -> None:
    base = cache_key("espeak", "cmn-latn-pinyin", "zh-CN", "你好")
    assert base == cache_key("espeak", "cmn-latn-pinyin", "zh", " 你好 ")
    others = {
        cache_key("edge", "cmn-latn-pinyin", "zh-CN", "你好"),
        cache_key("espeak", "cmn-latn-pinyin+f3", "zh-CN", "你好"),
        cache_key("espeak", "cmn-latn-pinyin", "en-US", "你好"),
        cache_key("espeak", "cmn-latn-pinyin", "zh-CN", "您好"),
    }
    assert base not in others
    assert len(others) == 4


async def test_cache_hit_does_not_call_the_engine(tmp_path: Path) -> None:
    engine = FakeEngine()
    cache = TtsCache(tmp_path, engine)
    first = await cache.get_or_make("欢迎致电", "zh-CN")
    assert isinstance(first, CachedSpeech)
    assert not first.hit
    assert (first.engine, first.voice, first.language) == ("fake", "fake-default", "zh-CN")
    assert first.path == tmp_path / first.key[:2] / f"{first.key}.wav"
    assert first.key == cache_key("fake", "fake-default", "zh-CN", "欢迎致电")
    assert first.playback_name == str(first.path)[: -len(".wav")]
    assert wav_info(first.path.read_bytes())[:3] == (1, 8000, 2)
    assert first.duration_ms == 140
    second = await cache.get_or_make("欢迎致电", "zh")
    assert second.hit
    assert (second.path, second.duration_ms) == (first.path, first.duration_ms)
    assert len(engine.calls) == 1
    # another process (a new cache on the same directory) finds it on disk
    other = TtsCache(tmp_path, FakeEngine())
    found = await other.get_or_make("欢迎致电", "zh-CN")
    assert found.hit and found.path == first.path
    assert other.lookup("欢迎致电", "zh-CN") == found
    # a different voice or text is another entry
    voiced = await cache.get_or_make("欢迎致电", "zh-CN", voice="other")
    texted = await cache.get_or_make("欢迎致电!", "zh-CN")
    assert len({first.path, voiced.path, texted.path}) == 3
    assert len(engine.calls) == 3
    # refresh makes it again
    assert not (await cache.get_or_make("欢迎致电", "zh-CN", refresh=True)).hit
    assert len(engine.calls) == 4
    assert cache.stats.hits == 1


@needs_ffmpeg
async def test_cache_converts_edge_mp3(tmp_path: Path, mp3: bytes) -> None:
    class Speaking:
        def __init__(self, text: str, voice: str, **kwargs: Any) -> None:
            pass

        async def stream(self) -> AsyncIterator[dict[str, Any]]:
            for start in range(0, len(mp3), 1000):
                yield {"type": "audio", "data": mp3[start : start + 1000]}

    cache = TtsCache(tmp_path, FallbackTts([EdgeTts(communicate=Speaking), FakeEngine()]))
    speech = await cache.get_or_make("你好", "zh-CN")
    assert (speech.engine, speech.voice) == ("edge", "zh-CN-XiaoxiaoNeural")
    assert wav_info(speech.path.read_bytes())[:3] == (1, 8000, 2)
    assert 400 <= speech.duration_ms <= 600


async def test_cache_finds_what_a_fallback_engine_made(tmp_path: Path) -> None:
    edge = FakeEngine("edge", fail=TtsError("tts.offline", "离线", "offline"))
    espeak = FakeEngine("espeak")
    cache = TtsCache(tmp_path, FallbackTts([edge, espeak]))
    made = await cache.get_or_make("你好", "zh")
    assert made.engine == "espeak"
    edge.fail = None  # back online: the cached espeak audio is still used
    again = await cache.get_or_make("你好", "zh")
    assert again.hit and again.engine == "espeak"
    assert (len(edge.calls), len(espeak.calls)) == (1, 1)


async def test_concurrent_requests_synthesise_once(tmp_path: Path) -> None:
    engine = FakeEngine(delay=0.05)
    cache = TtsCache(tmp_path, engine)
    results = await asyncio.gather(*(cache.get_or_make("请稍候", "zh") for _ in range(10)))
    assert len(engine.calls) == 1
    assert {r.path for r in results} == {results[0].path}
    assert len(files_in(tmp_path)) == 1


async def test_a_caller_leaving_does_not_cancel_the_others(tmp_path: Path) -> None:
    engine = FakeEngine(delay=0.1)
    cache = TtsCache(tmp_path, engine)
    leaving = asyncio.create_task(cache.get_or_make("请稍候", "zh"))
    staying = asyncio.create_task(cache.get_or_make("请稍候", "zh"))
    await asyncio.sleep(0.02)
    leaving.cancel()
    result = await staying
    assert result.path.is_file()
    assert leaving.cancelled()
    assert len(engine.calls) == 1


async def test_aclose_cancels_unfinished_syntheses(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, FakeEngine(delay=10))
    waiter = asyncio.create_task(cache.get_or_make("你好", "zh"))
    await asyncio.sleep(0.01)
    waiter.cancel()  # the caller hung up; the synthesis goes on for the next caller …
    await asyncio.sleep(0)
    await cache.aclose()  # … until shutdown
    assert waiter.cancelled()
    assert files_in(tmp_path) == []


async def test_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = TtsCache(tmp_path, FakeEngine())
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(TtsError) as caught:
        await cache.get_or_make("你好", "zh")
    assert caught.value.code == "tts.cache"
    assert caught.value.message_en.startswith("disk full")
    assert files_in(tmp_path) == []
    monkeypatch.undo()
    assert not (await cache.get_or_make("你好", "zh")).hit
    assert [p.suffix for p in files_in(tmp_path)] == [".wav"]


async def test_failed_synthesis_is_not_cached(tmp_path: Path) -> None:
    engine = FakeEngine(fail=TtsError("tts.failed", "失败", "failed"))
    cache = TtsCache(tmp_path, engine)
    for _ in range(2):
        with pytest.raises(TtsError) as caught:
            await cache.get_or_make("你好", "zh")
        assert caught.value.code == "tts.all_failed"
        assert caught.value.reasons["fake"].code == "tts.failed"
    assert len(engine.calls) == 2
    assert files_in(tmp_path) == []


async def test_bounded_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    old = tmp_path / "ab" / ("ab" + "0" * 62 + ".wav")
    old.write_bytes(make_wav(0.1))  # from an earlier run
    os.utime(old, (1, 1))
    cache = TtsCache(tmp_path, FakeEngine(), max_entries=2)
    first = await cache.get_or_make("一", "zh")
    assert old.exists()
    second = await cache.get_or_make("二", "zh")
    assert not old.exists()  # the oldest goes first
    assert (await cache.get_or_make("一", "zh")).hit  # "一" is now the most recent
    third = await cache.get_or_make("三", "zh")
    assert first.path.exists() and third.path.exists()
    assert not second.path.exists()
    assert len(files_in(tmp_path)) == 2
    assert cache.stats.evicted == 2


# --------------------------------------------------------------------------- placeholders


def test_number_prompts() -> None:
    zh = number_prompts("zh")
    assert zh["say/zh/3"] == "三"
    assert zh["say/zh/yuan"] == "元"
    assert number_prompts("en-US")["say/en/thousand"] == "thousand"
    with pytest.raises(TtsError):
        number_prompts("fr")


@needs_espeak
@needs_ffmpeg
async def test_generate_placeholders_for_the_zh_number_set(tmp_path: Path) -> None:
    wanted = ["say/zh/1", "say/zh/2", "say/zh/wan", "say/zh/yuan", "say/zh/jiao"]
    wanted += ["say/zh/dian", "say/zh/oclock", "say/zh/xingqi"]  # 点 twice: one file
    items = {prompt: number_prompts("zh-CN")[prompt] for prompt in wanted}
    cache = TtsCache(tmp_path, EspeakTts())
    made = await generate_placeholders(items, "zh-CN", cache, concurrency=2)
    assert list(made) == wanted
    for speech in made.values():
        assert speech.engine == "espeak" and speech.voice == "cmn-latn-pinyin"
        assert wav_info(speech.path.read_bytes())[:3] == (1, 8000, 2)
        assert 100 < speech.duration_ms < 3000
    assert made["say/zh/dian"].path == made["say/zh/oclock"].path
    assert len(files_in(tmp_path)) == len(wanted) - 1
    again = await generate_placeholders(items, "zh-CN", cache)
    assert all(speech.hit for speech in again.values())


async def test_generate_placeholders_reports_each_failure(tmp_path: Path) -> None:
    engine = FakeEngine(fail=TtsError("tts.failed", "失败", "failed"), fail_on="二")
    cache = TtsCache(tmp_path, engine)
    items = {"a": "一", "b": "二", "c": "三"}
    with pytest.raises(TtsError) as caught:
        await generate_placeholders(items, "zh", cache)
    assert caught.value.code == "tts.placeholders"
    assert list(caught.value.reasons) == ["b"]
    assert len(files_in(tmp_path)) == 2  # the others were made and cached
    engine.fail = None
    made = await generate_placeholders(items, "zh", cache)
    assert [made[k].hit for k in "abc"] == [True, False, True]
