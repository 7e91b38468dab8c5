"""Text-to-speech placeholders for prompts that have not been recorded yet.

Engines (:class:`TtsEngine`) turn text into audio bytes:

:class:`EdgeTts`
    Microsoft Edge's online voices through ``edge-tts`` (``zh-CN-XiaoxiaoNeural``,
    ``en-US-JennyNeural`` by default). Returns **MP3** (24 kHz mono, 48 kbit/s). Needs the
    internet; every request runs under a hard ``asyncio.timeout`` because edge-tts has been
    seen to hang > 120 s on a stalled network despite its own timeouts.
:class:`EspeakTts`
    espeak-ng, offline. Returns **WAV** (PCM 16-bit mono, 22,050 Hz; the streaming header
    espeak-ng writes to stdout is rewritten with the real sizes). Mandarin uses the voice
    ``cmn-latn-pinyin``: Debian 12's espeak-ng 1.51 reads Chinese characters as pinyin letters
    with ``-v cmn`` (the names ``cmn`` and ``zh`` are therefore mapped to
    ``cmn-latn-pinyin``); English uses ``en-us``.

:class:`FallbackTts` tries engines in order (edge, then espeak) and says which engine and voice
spoke. :class:`TtsCache` keeps the results on disk as Asterisk-ready WAV files (8 kHz mono
16-bit PCM, made by :func:`to_asterisk_wav`, which needs ffmpeg); dynamic TTS at run time
(text with variables substituted) goes through the same cache.

Digits in the text are written out before synthesis (:func:`spell_numbers`, both engines),
because espeak-ng reads ``12329`` as a cardinal number and the hotline number must be read
digit by digit. The Mandarin rules, first match wins:

1. ISO dates ``2026-10-01`` / ``2026/10/1`` → 二零二六年十月一日; times ``9:30`` → 九点三十分,
   ``14:05:09`` → 十四点零五分零九秒, ``2:00`` → 两点 (readings of :mod:`prompts.say`).
2. A number before 元: an integer is a cardinal (``3500元`` → 三千五百元, any length); with
   decimals it is money, 元角分 (``1234.56元`` → 一千二百三十四元五角六分, the 元 is consumed).
3. A percentage: ``5.5%`` → 百分之五点五.
4. Exactly four digits before 年 are a year, read digit by digit: ``2026年`` → 二零二六年.
5. A number with a decimal point or thousands separators (``12.5``, ``1,234``), or followed
   by a unit or measure word (万 亿 千 百 个 位 名 人 次 笔 期 月 天 日 号 周 岁 年 小时 分 秒 倍
   平 米 公 斤 克 套 间 户 张 件 项 条 页 台 辆 份 种 家 层 折 成 余 多 块 角 毛 元) is a
   cardinal: ``36个月`` → 三十六个月, ``15万`` → 十五万 (leading zeros are dropped:
   ``05月`` → 五月).
6. Any other run of digits is read **digit by digit** (零一二…九, 1 as 一, never 幺) when it
   has **5 or more digits or starts with 0** (``12329`` → 一二三二九, ``010`` → 零一零),
   otherwise as a **cardinal** (``3`` → 三, ``1234`` → 一千二百三十四).

Cardinals follow :func:`prompts.say.spell` (cn2an's "low" reading: 二, never 两; 万/亿
groups), so no extra dependency is needed at run time; a cardinal that does not fit
(≥ 10**16) is read digit by digit. Signs are left as written. Full-width digits count as
digits. English text only gets rule 6's digit strings spaced out (``12329`` → ``1 2 3 2 9``);
espeak-ng and Edge read the rest of English numbers themselves.

Errors are :class:`TtsError` with a ``code`` and messages in Chinese and English:

``tts.timeout``   an engine or ffmpeg did not finish within its time limit
``tts.offline``   the online engine cannot reach its service (DNS, refused connection…)
``tts.failed``    the engine ran but produced no usable audio (exit status, bad response)
``tts.missing``   a binary (espeak-ng, ffmpeg) or the edge-tts package is not installed
``tts.invalid``   empty or too long text, unsupported language
``tts.all_failed`` every engine of a :class:`FallbackTts` failed; ``reasons`` by engine
``tts.cache``     the cache directory cannot be written (disk full, permissions)
``tts.placeholders`` :func:`generate_placeholders`: some prompts failed; ``reasons`` by id
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prompts.say import SayError, normalize_language, prompt_set, spell, text_of

__all__ = [
    "ASTERISK_RATE",
    "DEFAULT_EDGE_VOICES",
    "DEFAULT_ESPEAK_VOICES",
    "MAX_TEXT_CHARS",
    "CachedSpeech",
    "EdgeTts",
    "EspeakTts",
    "FallbackTts",
    "Synthesis",
    "TtsCache",
    "TtsEngine",
    "TtsError",
    "cache_key",
    "default_tts",
    "generate_placeholders",
    "number_prompts",
    "spell_numbers",
    "to_asterisk_wav",
    "to_asterisk_wav_async",
    "wav_duration_ms",
]

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1000
"""Longest text accepted for one synthesis (prompts are a sentence or two)."""
ASTERISK_RATE = 8000
DEFAULT_EDGE_VOICES = {"zh-CN": "zh-CN-XiaoxiaoNeural", "en-US": "en-US-JennyNeural"}
DEFAULT_ESPEAK_VOICES = {"zh-CN": "cmn-latn-pinyin", "en-US": "en-us"}
KEY_VERSION = "tts-1"
"""Part of every cache key: bump it when the number rules or the output format change."""

_REAP_SECONDS = 5.0  # after killing a timed-out process: how long to wait for it to go


# --------------------------------------------------------------------------- errors


class TtsError(Exception):
    """A synthesis that failed. ``code`` is one of the ``tts.*`` codes in the module docs;
    ``engine`` names the engine (or tool) that failed; ``reasons`` holds the underlying errors
    of ``tts.all_failed`` (by engine name) and ``tts.placeholders`` (by prompt id)."""

    def __init__(
        self,
        code: str,
        message_zh: str,
        message_en: str,
        *,
        engine: str | None = None,
        reasons: Mapping[str, TtsError] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message_en} / {message_zh}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.engine = engine
        self.reasons: dict[str, TtsError] = dict(reasons or {})


def _invalid(message_zh: str, message_en: str) -> TtsError:
    return TtsError("tts.invalid", message_zh, message_en)


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise _invalid("朗读文本必须是字符串", f"text must be a string, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise _invalid("朗读文本为空", "the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise _invalid(
            f"朗读文本过长（{len(text)} 字，上限 {MAX_TEXT_CHARS}）",
            f"the text is too long ({len(text)} characters, at most {MAX_TEXT_CHARS})",
        )
    return text


def _language(language: object) -> str:
    try:
        return normalize_language(language)
    except SayError as exc:
        raise _invalid(exc.message_zh, exc.message_en) from None


# --------------------------------------------------------------------------- number rules

_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９％", "0123456789%")
_ZH_UNIT = (
    "万|亿|千|百|个|位|名|人|次|笔|期|月|天|日|号|周|岁|年|小时|分|秒|倍|平|米|公|斤|克|套|间|户|"
    "张|件|项|条|页|台|辆|份|种|家|层|折|成|余|多|块|角|毛|元"
)
_ZH_TOKEN = re.compile(
    r"(?P<date>(?<!\d)\d{4}[-/]\d{1,2}[-/]\d{1,2}(?!\d))"
    r"|(?P<time>(?<![\d:：])\d{1,2}[:：]\d{2}(?:[:：]\d{2})?(?![\d:：]))"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?)"
    r"(?:(?P<yuan>元)|(?P<pct>%)|(?=(?P<unit>" + _ZH_UNIT + r")))?"
)
_DIGIT_RUN = re.compile(r"\d+(?:[.,]\d+)*")
_CARDINAL_MAX_DIGITS = 16  # prompts.say reads |x| < 10**16


def spell_numbers(text: str, language: str) -> str:
    """``text`` with its digits written out for a TTS engine (rules in the module docs):
    ``"请拨打12329"`` → ``"请拨打一二三二九"``, ``"3500元"`` → ``"三千五百元"``."""
    text = text.translate(_FULLWIDTH_DIGITS)
    if _language(language) == "en-US":
        return _DIGIT_RUN.sub(_en_digits, text)
    return _ZH_TOKEN.sub(_zh_token, text)


def _say(kind: str, value: str) -> str:
    return text_of(spell(kind, value, "zh-CN"), "zh-CN")


def _zh_digits(digits: str) -> str:
    return _say("digits", digits)


def _zh_cardinal(number: str) -> str:
    """A cardinal, decimals read digit by digit: 3500 → 三千五百, 12.50 → 十二点五零."""
    integer, _, fraction = number.partition(".")
    if len(integer.lstrip("0")) > _CARDINAL_MAX_DIGITS:
        spoken = _zh_digits(integer)
    else:
        spoken = _say("number", integer)
    return spoken + ("点" + _zh_digits(fraction) if fraction else "")


def _zh_token(match: re.Match[str]) -> str:
    whole = match.group(0)
    if match.group("date") or match.group("time"):
        kind = "date" if match.group("date") else "time"
        try:
            return _say(kind, whole.replace("/", "-").replace("：", ":"))
        except SayError:  # 2026-13-45, 25:99: read its numbers one by one
            return _NUMBER_ONLY.sub(lambda m: _zh_number(m.group(0), unit=None), whole)
    raw = match.group("num")
    number = raw.replace(",", "")
    if match.group("yuan"):
        if "." in number:
            with contextlib.suppress(SayError):
                return _say("money", number)  # 元角分, the 元 included
        return _zh_cardinal(number) + "元"
    if match.group("pct"):
        return "百分之" + _zh_cardinal(number)
    if "," in raw:
        return _zh_cardinal(number)
    return _zh_number(number, unit=match.group("unit"))


_NUMBER_ONLY = re.compile(r"\d+")


def _zh_number(number: str, *, unit: str | None) -> str:
    if "." in number:
        return _zh_cardinal(number)
    if unit == "年" and len(number) == 4:
        return _zh_digits(number)  # a year
    if unit is not None:
        return _zh_cardinal(number)
    if len(number) >= 5 or (len(number) > 1 and number.startswith("0")):
        return _zh_digits(number)
    return _zh_cardinal(number)


def _en_digits(match: re.Match[str]) -> str:
    run = match.group(0)
    if run.isdigit() and (len(run) >= 5 or (len(run) > 1 and run.startswith("0"))):
        return " ".join(run)
    return run


# --------------------------------------------------------------------------- WAV helpers


def _parse_wav(data: bytes) -> tuple[int, int, int, bytes]:
    """(channels, frame rate, sample width, PCM frames) of a PCM WAV. Tolerates the streaming
    header espeak-ng writes to a pipe (sizes 0x7FFFF000): the data runs to the end of file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    position = 12
    fmt: tuple[int, int, int] | None = None
    while position + 8 <= len(data):
        chunk = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        body = position + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("short fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag not in (1, 0xFFFE) or bits not in (8, 16, 24, 32) or not channels or not rate:
                raise ValueError(f"not PCM audio (format {tag}, {bits} bits)")
            fmt = (channels, rate, bits // 8)
        elif chunk == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            frames = data[body : min(body + size, len(data))]
            frame_size = fmt[0] * fmt[2]
            return (*fmt, frames[: len(frames) - len(frames) % frame_size])
        position = body + size + (size & 1)
    raise ValueError("no data chunk")


def _make_wav(channels: int, rate: int, width: int, frames: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def wav_duration_ms(data: bytes) -> int:
    """Duration of a PCM WAV in milliseconds (``ValueError`` if it is not one)."""
    channels, rate, width, frames = _parse_wav(data)
    return len(frames) * 1000 // (channels * width * rate)


def _asterisk_ready(audio: bytes) -> bytes | None:
    """``audio`` with a clean header if it is already 8 kHz mono 16-bit PCM WAV."""
    try:
        channels, rate, width, frames = _parse_wav(audio)
    except ValueError:
        return None
    if (channels, rate, width) != (1, ASTERISK_RATE, 2) or not frames:
        return None
    return _make_wav(1, ASTERISK_RATE, 2, frames)


def _ffmpeg_argv(ffmpeg: str, input_format: str | None) -> list[str]:
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"]
    if input_format:
        argv += ["-f", input_format]
    argv += ["-i", "pipe:0", "-map_metadata", "-1", "-ac", "1", "-ar", str(ASTERISK_RATE)]
    return [*argv, "-acodec", "pcm_s16le", "-f", "s16le", "pipe:1"]


def _ffmpeg_result(returncode: int, stdout: bytes, stderr: bytes) -> bytes:
    frames = stdout[: len(stdout) - len(stdout) % 2]
    if returncode != 0 or not frames:
        detail = _tail(stderr) or f"exit status {returncode}, {len(stdout)} bytes"
        raise TtsError(
            "tts.failed",
            f"ffmpeg 无法转换音频：{detail}",
            f"ffmpeg could not convert the audio: {detail}",
            engine="ffmpeg",
        )
    return _make_wav(1, ASTERISK_RATE, 2, frames)


def to_asterisk_wav(
    audio: bytes,
    *,
    input_format: str | None = None,
    ffmpeg: str = "ffmpeg",
    time_limit: float = 30.0,
) -> bytes:
    """Any audio ffmpeg can read (WAV, MP3…) as an Asterisk-ready WAV: 8 kHz, mono, 16-bit
    PCM, plain 44-byte header. Audio already in that format is passed through (header
    rewritten) without running ffmpeg. Blocking; see :func:`to_asterisk_wav_async`."""
    ready = _asterisk_ready(audio)
    if ready is not None:
        return ready
    _check_audio(audio)
    argv = _ffmpeg_argv(ffmpeg, input_format)
    try:
        done = subprocess.run(
            argv, input=audio, capture_output=True, timeout=time_limit, check=False
        )
    except subprocess.TimeoutExpired:
        raise _timeout("ffmpeg", time_limit) from None
    except OSError as exc:
        raise _spawn_error("ffmpeg", ffmpeg, exc) from None
    return _ffmpeg_result(done.returncode, done.stdout, done.stderr)


async def to_asterisk_wav_async(
    audio: bytes,
    *,
    input_format: str | None = None,
    ffmpeg: str = "ffmpeg",
    time_limit: float = 30.0,
) -> bytes:
    """:func:`to_asterisk_wav` without blocking the event loop."""
    ready = _asterisk_ready(audio)
    if ready is not None:
        return ready
    _check_audio(audio)
    returncode, stdout, stderr = await _run(
        _ffmpeg_argv(ffmpeg, input_format), audio, time_limit, tool="ffmpeg"
    )
    return _ffmpeg_result(returncode, stdout, stderr)


def _check_audio(audio: bytes) -> None:
    if not audio:
        raise TtsError("tts.failed", "没有音频数据", "no audio data", engine="ffmpeg")


# --------------------------------------------------------------------------- subprocesses


def _tail(stderr: bytes, limit: int = 300) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _timeout(tool: str, seconds: float) -> TtsError:
    return TtsError(
        "tts.timeout",
        f"{tool} 在 {seconds:g} 秒内没有完成",
        f"{tool} did not finish within {seconds:g} s",
        engine=tool,
    )


def _spawn_error(tool: str, binary: str, exc: OSError) -> TtsError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
        return TtsError(
            "tts.missing",
            f"找不到可执行的 {tool}：{binary}",
            f"{tool} is not installed or not executable: {binary}",
            engine=tool,
        )
    return TtsError(
        "tts.failed",
        f"无法启动 {tool}：{exc}",
        f"cannot start {tool}: {exc}",
        engine=tool,
    )


NICENESS: ContextVar[int] = ContextVar("ivrflow_tts_niceness", default=0)
"""Set (e.g. to 10) around work nobody waits for — placeholders made in the background — so
espeak-ng and ffmpeg yield the CPU to requests and calls."""


async def _run(
    argv: Sequence[str], stdin: bytes, time_limit: float, *, tool: str
) -> tuple[int, bytes, bytes]:
    """Run ``argv`` (no shell) feeding ``stdin``; (exit status, stdout, stderr). On timeout or
    cancellation the process group is killed and reaped before the error propagates."""
    niceness = NICENESS.get()
    if niceness > 0 and (nice := shutil.which("nice")) is not None:
        if shutil.which(argv[0]) is None:  # report the tool missing, not a failing `nice`
            raise _spawn_error(tool, argv[0], FileNotFoundError(argv[0]))
        argv = [nice, "-n", str(niceness), *argv]
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills all of it
        )
    except OSError as exc:
        raise _spawn_error(tool, argv[0], exc) from None
    try:
        async with asyncio.timeout(time_limit):
            stdout, stderr = await process.communicate(stdin)
    except TimeoutError:
        raise _timeout(tool, time_limit) from None
    finally:
        if process.returncode is None:
            await _reap(process)
    assert process.returncode is not None
    return process.returncode, stdout, stderr


async def _reap(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.stdin is not None:
        process.stdin.close()
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(_REAP_SECONDS):
            await process.communicate()  # drain the pipes so the transport closes


# --------------------------------------------------------------------------- engines


class TtsEngine(Protocol):
    """A text-to-speech engine.

    ``name`` is stable (it is part of cache keys); ``audio_format`` is what
    :meth:`synthesize` returns, as an ffmpeg format name (``"wav"``, ``"mp3"``).
    """

    name: str
    audio_format: str

    def available(self) -> bool:
        """Whether the engine can be tried at all (binary or package installed). Cheap; says
        nothing about the network."""
        ...

    def resolve_voice(self, language: str, voice: str | None) -> str:
        """The voice the engine will use: ``voice`` if it is one of this engine's voice names,
        else the engine's default for ``language``."""
        ...

    async def synthesize(self, text: str, *, language: str, voice: str | None) -> bytes:
        """Audio bytes in :attr:`audio_format`; raises :class:`TtsError`."""
        ...


_EDGE_VOICE = re.compile(r"[a-z]{2,3}-[A-Za-z]{2,}(?:-[A-Za-z]+)*-[A-Za-z]+Neural")
_ESPEAK_VOICE = re.compile(r"[a-z][a-z0-9-]*(?:\+[A-Za-z0-9_-]+)?")
_ESPEAK_BROKEN_MANDARIN = {"cmn", "zh", "zh-cn", "zh-cmn"}  # misread Hanzi on espeak-ng 1.51


class EdgeTts:
    """edge-tts (online). MP3, 24 kHz mono. Each request is bounded by ``timeout`` seconds.

    ``communicate`` replaces ``edge_tts.Communicate`` (tests); by default it is looked up on
    the module at call time, so ``monkeypatch.setattr(edge_tts, "Communicate", Fake)`` works.
    """

    name = "edge"
    audio_format = "mp3"

    def __init__(
        self,
        *,
        voices: Mapping[str, str] | None = None,
        timeout: float = 8.0,
        rate: str = "+0%",
        proxy: str | None = None,
        communicate: Callable[..., Any] | None = None,
        spell_digits: bool = True,
    ) -> None:
        self.voices = {
            **DEFAULT_EDGE_VOICES,
            **{_language(k): v for k, v in (voices or {}).items()},
        }
        self.timeout = timeout
        self.rate = rate
        self.proxy = proxy
        self.spell_digits = spell_digits
        self._communicate = communicate

    def available(self) -> bool:
        return self._communicate is not None or importlib.util.find_spec("edge_tts") is not None

    def resolve_voice(self, language: str, voice: str | None) -> str:
        if voice and _EDGE_VOICE.fullmatch(voice):
            return voice
        return self.voices[_language(language)]

    async def synthesize(self, text: str, *, language: str, voice: str | None = None) -> bytes:
        text = _check_text(text)
        language = _language(language)
        chosen = self.resolve_voice(language, voice)
        if self.spell_digits:
            text = spell_numbers(text, language)
        try:
            # edge-tts + aiohttp take ~0.2 s to import: not on the event loop's thread
            aiohttp, edge_tts = _EDGE[0] if _EDGE else await asyncio.to_thread(_import_edge)
        except ImportError:
            raise TtsError(
                "tts.missing",
                "未安装 edge-tts",
                "edge-tts is not installed",
                engine=self.name,
            ) from None
        factory = self._communicate or edge_tts.Communicate
        seconds = max(1, int(self.timeout + 0.999))
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.timeout):
                communicate = factory(
                    text,
                    chosen,
                    rate=self.rate,
                    proxy=self.proxy,
                    connect_timeout=seconds,
                    receive_timeout=seconds,
                )
                async with contextlib.aclosing(communicate.stream()) as stream:
                    async for chunk in stream:
                        if chunk.get("type") == "audio" and chunk.get("data"):
                            chunks.append(chunk["data"])
        except TimeoutError:
            raise TtsError(
                "tts.timeout",
                f"edge-tts 在 {self.timeout:g} 秒内没有返回音频",
                f"edge-tts returned no audio within {self.timeout:g} s",
                engine=self.name,
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise TtsError(
                "tts.offline",
                f"无法连接 edge-tts 服务：{exc}",
                f"cannot reach the edge-tts service: {exc}",
                engine=self.name,
            ) from None
        except Exception as exc:
            raise TtsError(
                "tts.failed",
                f"edge-tts 合成失败：{type(exc).__name__}: {exc}",
                f"edge-tts failed: {type(exc).__name__}: {exc}",
                engine=self.name,
            ) from None
        if not chunks:
            raise TtsError(
                "tts.failed",
                "edge-tts 没有返回音频",
                "edge-tts returned no audio",
                engine=self.name,
            )
        return b"".join(chunks)


_EDGE: list[tuple[Any, Any]] = []  # [(aiohttp, edge_tts)] once imported


def _import_edge() -> tuple[Any, Any]:
    import aiohttp
    import edge_tts

    if not _EDGE:
        _EDGE.append((aiohttp, edge_tts))
    return aiohttp, edge_tts


class EspeakTts:
    """espeak-ng (offline). WAV, PCM 16-bit mono 22,050 Hz. Runs ``binary`` without a shell,
    the text on stdin (UTF-8), under ``timeout`` seconds; ``speed`` is words per minute
    (espeak-ng's default 175 when ``None``)."""

    name = "espeak"
    audio_format = "wav"

    def __init__(
        self,
        *,
        binary: str = "espeak-ng",
        voices: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        speed: int | None = None,
        spell_digits: bool = True,
    ) -> None:
        self.binary = binary
        self.voices = {
            **DEFAULT_ESPEAK_VOICES,
            **{_language(k): v for k, v in (voices or {}).items()},
        }
        self.timeout = timeout
        self.speed = speed
        self.spell_digits = spell_digits

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def resolve_voice(self, language: str, voice: str | None) -> str:
        language = _language(language)
        chosen = voice if voice and _ESPEAK_VOICE.fullmatch(voice) else self.voices[language]
        if chosen.partition("+")[0] in _ESPEAK_BROKEN_MANDARIN:
            variant = chosen.partition("+")[2]
            chosen = DEFAULT_ESPEAK_VOICES["zh-CN"] + (f"+{variant}" if variant else "")
        return chosen

    def command(self, *, language: str, voice: str | None = None) -> list[str]:
        """The command line (the text goes to its stdin)."""
        argv = [self.binary, "-v", self.resolve_voice(language, voice), "-b", "1"]
        if self.speed is not None:
            argv += ["-s", str(self.speed)]
        return [*argv, "--stdout"]

    async def synthesize(self, text: str, *, language: str, voice: str | None = None) -> bytes:
        text = _check_text(text)
        language = _language(language)
        if self.spell_digits:
            text = spell_numbers(text, language)
        argv = self.command(language=language, voice=voice)
        try:
            returncode, stdout, stderr = await _run(
                argv, text.encode("utf-8"), self.timeout, tool="espeak-ng"
            )
        except TtsError as exc:
            exc.engine = self.name
            raise
        try:
            if returncode != 0:
                raise ValueError(_tail(stderr) or f"exit status {returncode}")
            channels, rate, width, frames = _parse_wav(stdout)
            if not frames:
                raise ValueError("no audio")
        except ValueError as exc:
            raise TtsError(
                "tts.failed",
                f"espeak-ng 合成失败：{exc}",
                f"espeak-ng failed: {exc}",
                engine=self.name,
            ) from None
        return _make_wav(channels, rate, width, frames)


# --------------------------------------------------------------------------- fallback


@dataclass(frozen=True, slots=True)
class Synthesis:
    """Audio from :class:`FallbackTts`: who spoke it and who failed before."""

    audio: bytes
    audio_format: str
    engine: str
    voice: str
    language: str
    failures: tuple[TtsError, ...] = ()


_COOL_DOWN_CODES = frozenset({"tts.offline", "tts.timeout", "tts.missing"})


class FallbackTts:
    """Try ``engines`` in order; the first that returns audio wins.

    An engine that failed with ``tts.offline``, ``tts.timeout`` or ``tts.missing`` is skipped
    for ``retry_after`` seconds (so a stalled network costs one timeout, not one per call)
    unless every engine is cooling down, in which case all are tried again.
    """

    def __init__(self, engines: Sequence[TtsEngine], *, retry_after: float = 30.0) -> None:
        if not engines:
            raise ValueError("FallbackTts needs at least one engine")
        self.engines: tuple[TtsEngine, ...] = tuple(engines)
        self.retry_after = retry_after
        self._cooling: dict[str, tuple[float, TtsError]] = {}

    @property
    def name(self) -> str:
        return "+".join(engine.name for engine in self.engines)

    def available(self) -> bool:
        return any(engine.available() for engine in self.engines)

    def candidates(self, language: str, voice: str | None = None) -> list[tuple[str, str]]:
        """(engine name, voice) of each engine, in order of preference."""
        return [(e.name, e.resolve_voice(language, voice)) for e in self.engines]

    async def synthesize(self, text: str, *, language: str, voice: str | None = None) -> Synthesis:
        text = _check_text(text)
        language = _language(language)
        now = time.monotonic()
        cooling = {n: exc for n, (until, exc) in self._cooling.items() if until > now}
        skip = cooling if len(cooling) < len(self.engines) else {}
        failures: dict[str, TtsError] = {}
        for engine in self.engines:
            if engine.name in skip:
                failures[engine.name] = skip[engine.name]
                continue
            chosen = engine.resolve_voice(language, voice)
            try:
                audio = await engine.synthesize(text, language=language, voice=chosen)
            except TtsError as exc:
                exc.engine = exc.engine or engine.name
                failures[engine.name] = exc
                if exc.code in _COOL_DOWN_CODES and self.retry_after > 0:
                    self._cooling[engine.name] = (time.monotonic() + self.retry_after, exc)
                log.info("TTS engine %s failed (%s), trying the next one", engine.name, exc)
                continue
            self._cooling.pop(engine.name, None)
            return Synthesis(
                audio, engine.audio_format, engine.name, chosen, language, tuple(failures.values())
            )
        listed_en = "; ".join(f"{n}: {e.code} ({e.message_en})" for n, e in failures.items())
        listed_zh = "；".join(f"{n}：{e.code}（{e.message_zh}）" for n, e in failures.items())
        raise TtsError(
            "tts.all_failed",
            f"所有语音合成引擎均失败：{listed_zh}",
            f"every TTS engine failed: {listed_en}",
            reasons=failures,
        )


def default_tts(*, edge_timeout: float = 8.0, espeak_binary: str = "espeak-ng") -> FallbackTts:
    """Edge first, espeak-ng offline."""
    return FallbackTts([EdgeTts(timeout=edge_timeout), EspeakTts(binary=espeak_binary)])


# --------------------------------------------------------------------------- cache


def cache_key(engine: str, voice: str, language: str, text: str) -> str:
    """sha256 (hex) of the engine name, voice, language (normalised) and text (stripped)."""
    fields = [KEY_VERSION, engine, voice, _language(language), text.strip()]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedSpeech:
    """An Asterisk-ready WAV (8 kHz mono 16-bit) in the cache."""

    path: Path
    engine: str
    voice: str
    language: str
    duration_ms: int
    hit: bool
    key: str

    @property
    def playback_name(self) -> str:
        """The path without ``.wav``, as Asterisk's Playback / STREAM FILE want it."""
        return str(self.path.with_suffix(""))


@dataclass(slots=True)
class _Entry:
    path: Path
    size: int
    duration_ms: int | None = None


@dataclass(slots=True)
class _Counters:
    hits: int = 0
    misses: int = 0
    synthesized: int = 0
    evicted: int = 0


_MEMO_LIMIT = 10_000  # remembered entries when the cache itself is unbounded


class TtsCache:
    """On-disk cache of synthesised speech: ``directory/<k[:2]>/<k>.wav`` with ``k`` =
    :func:`cache_key` of the engine and voice that spoke, language and text.

    A lookup tries each engine's key in the order of ``tts`` (so audio made offline by espeak
    is found when edge is down, and edge's is preferred when both exist); a miss synthesises
    with ``tts`` (a :class:`FallbackTts`, or one engine), converts with ffmpeg and writes the
    file atomically (temporary file, fsync, rename; mode 0644). Concurrent requests for the same
    text in this process share one synthesis; other processes may race, harmlessly (rename).

    ``max_entries`` / ``max_bytes`` bound the directory: least recently used files (in this
    process; older files by mtime) are removed after a write. Without bounds files are kept.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        tts: TtsEngine | FallbackTts | None = None,
        *,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        ffmpeg: str = "ffmpeg",
        convert_timeout: float = 30.0,
    ) -> None:
        self.directory = Path(directory)
        if tts is None:
            tts = default_tts()
        self.tts = tts if isinstance(tts, FallbackTts) else FallbackTts([tts], retry_after=0)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ffmpeg = ffmpeg
        self.convert_timeout = convert_timeout
        self.stats = _Counters()
        self._index: OrderedDict[str, _Entry] = OrderedDict()
        self._total_bytes = 0
        self._scanned = False
        self._inflight: dict[str, asyncio.Task[CachedSpeech]] = {}

    @property
    def bounded(self) -> bool:
        return self.max_entries is not None or self.max_bytes is not None

    def path_for(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.wav"

    def lookup(self, text: str, language: str, voice: str | None = None) -> CachedSpeech | None:
        """The cached speech for ``text`` if any engine's version is on disk (no synthesis)."""
        text = _check_text(text)
        language = _language(language)
        for engine, chosen in self.tts.candidates(language, voice):
            found = self._find(cache_key(engine, chosen, language, text), engine, chosen, language)
            if found is not None:
                return found
        return None

    async def get_or_make(
        self, text: str, language: str, voice: str | None = None, *, refresh: bool = False
    ) -> CachedSpeech:
        """The cached speech for ``text``, synthesised on a miss (``hit`` says which).
        ``refresh`` synthesises again even if cached. Raises :class:`TtsError`."""
        text = _check_text(text)
        language = _language(language)
        candidates = self.tts.candidates(language, voice)
        keys = [cache_key(engine, chosen, language, text) for engine, chosen in candidates]
        if not refresh:
            for (engine, chosen), key in zip(candidates, keys, strict=True):
                found = self._find(key, engine, chosen, language)
                if found is not None:
                    self.stats.hits += 1
                    return found
        self.stats.misses += 1
        request = "|".join(keys)
        task = self._inflight.get(request)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._make(text, language, voice), name=f"tts-cache-{keys[0][:12]}"
            )
            self._inflight[request] = task
            task.add_done_callback(lambda done: self._settled(request, done))
        # shield: a caller hanging up does not cancel the synthesis the others wait for
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Cancel syntheses still running (e.g. at shutdown) and wait for them."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------------

    def _settled(self, request: str, task: asyncio.Task[CachedSpeech]) -> None:
        if self._inflight.get(request) is task:
            del self._inflight[request]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" noise when every waiter left

    def _find(self, key: str, engine: str, voice: str, language: str) -> CachedSpeech | None:
        path = self.path_for(key)
        entry = self._index.get(key)
        try:
            size = os.stat(path).st_size
        except OSError:
            if entry is not None:
                self._forget(key)
            return None
        if entry is None or entry.duration_ms is None:
            try:
                with wave.open(str(path), "rb") as wav:
                    duration = wav.getnframes() * 1000 // wav.getframerate()
            except (OSError, EOFError, wave.Error, ZeroDivisionError):
                return None  # damaged: made again and replaced
            if entry is None:
                entry = self._remember(key, _Entry(path, size))
            entry.duration_ms = duration
        else:
            self._index.move_to_end(key)
        assert entry.duration_ms is not None
        return CachedSpeech(path, engine, voice, language, entry.duration_ms, True, key)

    def _remember(self, key: str, entry: _Entry) -> _Entry:
        self._forget(key)
        self._index[key] = entry
        self._total_bytes += entry.size
        if not self.bounded and len(self._index) > _MEMO_LIMIT:
            _, old = self._index.popitem(last=False)
            self._total_bytes -= old.size
        return entry

    def _forget(self, key: str) -> None:
        old = self._index.pop(key, None)
        if old is not None:
            self._total_bytes -= old.size

    async def _make(self, text: str, language: str, voice: str | None) -> CachedSpeech:
        synthesis = await self.tts.synthesize(text, language=language, voice=voice)
        wav = await to_asterisk_wav_async(
            synthesis.audio,
            input_format=synthesis.audio_format,
            ffmpeg=self.ffmpeg,
            time_limit=self.convert_timeout,
        )
        self.stats.synthesized += 1
        key = cache_key(synthesis.engine, synthesis.voice, language, text)
        path = self.path_for(key)
        try:
            await asyncio.to_thread(_atomic_write, path, wav)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise TtsError(
                "tts.cache",
                ("磁盘已满，" if full else "") + f"无法写入语音缓存 {path}：{exc}",
                ("disk full: " if full else "") + f"cannot write the TTS cache file {path}: {exc}",
                engine=synthesis.engine,
            ) from None
        duration = wav_duration_ms(wav)
        if self.bounded:
            if not self._scanned:
                await self._scan()
            self._remember(key, _Entry(path, len(wav), duration))
            await self._evict(keep=key)
        else:
            self._remember(key, _Entry(path, len(wav), duration))
        return CachedSpeech(path, synthesis.engine, synthesis.voice, language, duration, False, key)

    async def _scan(self) -> None:
        """Index the files already in the directory, oldest first (by mtime)."""
        found = await asyncio.to_thread(_list_wavs, self.directory)
        self._scanned = True
        for key, path, size in found:
            if key not in self._index:
                self._index[key] = _Entry(path, size)
                self._index.move_to_end(key, last=False)
                self._total_bytes += size

    async def _evict(self, *, keep: str) -> None:
        victims: list[Path] = []
        for key in list(self._index):
            over_entries = self.max_entries is not None and len(self._index) > self.max_entries
            over_bytes = self.max_bytes is not None and self._total_bytes > self.max_bytes
            if not (over_entries or over_bytes):
                break
            if key == keep:
                continue
            victims.append(self._index[key].path)
            self._forget(key)
        if victims:
            self.stats.evicted += len(victims)
            await asyncio.to_thread(_unlink_all, victims)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # Asterisk usually runs as another user
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _list_wavs(directory: Path) -> list[tuple[str, Path, int]]:
    found: list[tuple[float, str, Path, int]] = []
    for path in directory.glob("??/*.wav"):
        if path.name.startswith("."):
            continue
        with contextlib.suppress(OSError):
            status = path.stat()
            found.append((status.st_mtime, path.stem, path, status.st_size))
    found.sort(reverse=True)  # newest first: _scan puts each at the front, oldest ends first
    return [(key, path, size) for _, key, path, size in found]


def _unlink_all(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# --------------------------------------------------------------------------- placeholders


def number_prompts(language: str) -> dict[str, str]:
    """The number prompt set of ``language`` (prompt id → text), from
    :func:`prompts.say.prompt_set`: the placeholders every flow that says numbers needs."""
    return prompt_set(_language(language))


@dataclass(slots=True)
class _Batch:
    results: dict[str, CachedSpeech] = field(default_factory=dict)
    failures: dict[str, TtsError] = field(default_factory=dict)


async def generate_placeholders(
    items: Mapping[str, str],
    language: str,
    cache: TtsCache,
    *,
    voice: str | None = None,
    concurrency: int = 4,
) -> dict[str, CachedSpeech]:
    """Speech for each prompt id → text in ``items`` through ``cache``, at most
    ``concurrency`` syntheses at a time; in the order of ``items``.

    If any prompt fails, all the others are still made (and cached), then a ``tts.placeholders``
    :class:`TtsError` is raised with each failure in ``reasons`` (by prompt id): calling again
    only synthesises what failed.
    """
    slots = asyncio.Semaphore(max(1, concurrency))
    batch = _Batch()

    async def one(prompt_id: str, text: str) -> None:
        async with slots:
            try:
                batch.results[prompt_id] = await cache.get_or_make(text, language, voice)
            except TtsError as exc:
                batch.failures[prompt_id] = exc

    async with asyncio.TaskGroup() as group:
        for prompt_id, text in items.items():
            group.create_task(one(prompt_id, text))
    if batch.failures:
        shown = ", ".join(list(batch.failures)[:5]) + ("…" if len(batch.failures) > 5 else "")
        raise TtsError(
            "tts.placeholders",
            f"{len(batch.failures)} 个提示音无法生成：{shown}",
            f"{len(batch.failures)} prompt(s) could not be synthesised: {shown}",
            reasons=batch.failures,
        )
    return {prompt_id: batch.results[prompt_id] for prompt_id in items}
