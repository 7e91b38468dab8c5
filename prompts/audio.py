"""Turn an uploaded audio file into Asterisk-ready prompts (8 kHz mono 16-bit), safely.

Recording staff upload prompts in whatever their recorder or editor produced. This module is a
pure library (no HTTP, no database): :func:`convert_upload` takes the uploaded bytes (or a file
the caller already stored), and returns :class:`ConvertedAudio` describing the files it wrote
into a work directory, or raises :class:`AudioError` with a stable ``code`` and a message in
Chinese and English saying what is wrong with the file.

Pipeline
    1. **Size** — empty and over-size uploads are refused before anything runs.
    2. **Sniff** — :func:`sniff` recognises the container from the first bytes (never from the
       file name, which this module does not even take): WAV/RF64, MP3, M4A (ISO BMFF), raw
       ADTS AAC, Ogg (Opus, Vorbis, others), FLAC, AMR-NB/WB. Anything else is
       ``audio.unknown_format``, with a hint of what it looks like (a PNG, a ZIP, a web
       page...). A WAV header is also read here: a header declaring more than the maximum
       duration is refused without starting ffmpeg, and a header declaring more data than the
       file holds is a truncated file.
    3. **Probe** — ``ffprobe`` (JSON) on the file with the sniffed demuxer forced. It must find
       at least one audio stream of a codec that container carries, no video stream other than
       an attached cover picture (MP3, M4A, FLAC, Ogg), no subtitle/data streams, and a known
       duration within the limit.
    4. **Decode** — ``ffmpeg`` decodes the first audio stream to raw s16le mono 8000 Hz on its
       stdout, with ``-t max_duration+1`` as a guard and ``-max_error_rate`` so that a file
       whose frames mostly fail to decode is reported as damaged instead of played as clicks.
    5. **Process** (pydub/audioop, in a worker thread so an event loop serving calls is not
       held up): optional trim of leading/trailing silence, loudness normalisation (see
       :class:`ConvertOptions`), then export of ``.wav`` (8 kHz mono 16-bit PCM), ``.sln``
       (raw signed linear) and optionally ``.ulaw`` / ``.alaw`` (G.711).
    6. **Commit** — every output is written under a temporary name in ``workdir`` and renamed
       to its final server-generated name only when all of them are written; on any error
       (or cancellation) nothing is left in ``workdir``.

Hardening of the ffmpeg/ffprobe runs
    * ``asyncio.create_subprocess_exec`` (no shell), stdin is ``/dev/null`` (plus ``-nostdin``),
      ``-hide_banner``, ``-v error``; stdout and stderr are read concurrently with bounded
      capture (stdout capped just above what the duration guard allows; stderr keeps its first
      and last 16 KiB), so a crafted file cannot make the server buffer without bound.
    * The input is forced: ``-f <demuxer>`` and ``-format_whitelist <demuxer>`` (no probing
      for, or nesting of, other demuxers such as HLS or concat playlists),
      ``-protocol_whitelist file`` and an absolute ``file:`` URL (crafted media files have made
      ffmpeg read other local or remote resources), ``-enable_drefs 0`` for MP4.
    * ``-codec_whitelist``: only the decoders of the codecs the sniffed container may carry
      (plus JPEG/PNG for cover art) can be opened, in ffprobe as well as ffmpeg — a WAV header
      around, say, a WMA or video bit-stream never reaches that decoder.
    * A wall-clock limit for all ffmpeg work of one upload (``AudioLimits.time_limit_s``); on
      expiry (or cancellation) each process is killed with its whole process group (it runs
      in a session of its own) and reaped before ``audio.timeout`` is raised.
    * The binaries are looked up first (``audio.ffmpeg_missing``); their paths are injectable.
    * Names: uploaded file names are never used for paths; :func:`safe_display_name` cleans
      one for display only. The outputs are re-synthesised from decoded PCM, never copied from
      the upload, so whatever else a polyglot file carries does not survive into them.

Probe and decode overlap by default: ffprobe and ffmpeg each cost ~50 ms of start-up here,
about what decoding a whole short prompt costs, so the decode is started at the same time as
the probe and its output is used only if the probe accepts the file (otherwise it is killed).
That speculative run is bounded exactly like an accepted one (the forced demuxer, only the
decoders of allowed codecs, the first audio stream only, the duration guard, the stdout cap,
the time limit). ``AudioLimits(overlap_probe=False)`` starts the decoder only after the probe
has accepted the file, at the cost of one more process start-up of latency per upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import signal
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

with warnings.catch_warnings():
    # audioop is deprecated on 3.11/3.12 (audioop-lts on 3.13+); pydub warns without ffmpeg on
    # PATH and has invalid escape sequences: none of that is ours to act on here.
    warnings.simplefilter("ignore")
    import audioop

    from pydub import AudioSegment

__all__ = [
    "OUTPUT_FORMATS",
    "SAMPLE_RATE",
    "SNIFF_BYTES",
    "AudioError",
    "AudioFormat",
    "AudioLimits",
    "ConvertOptions",
    "ConvertedAudio",
    "OutputFormat",
    "convert_upload",
    "safe_display_name",
    "sniff",
]

SAMPLE_RATE = 8000
"""Output sample rate (Hz): what Asterisk plays for 8 kHz channels."""
SNIFF_BYTES = 64 * 1024
"""How much of the start of a file :func:`convert_upload` gives :func:`sniff`."""
OutputFormat = Literal["wav", "sln", "ulaw", "alaw"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("wav", "sln", "ulaw", "alaw")

_MAX_CHANNELS = 8
_STDERR_KEEP = 16 * 1024  # bytes of stderr kept at the start and at the end
_PROBE_STDOUT_LIMIT = 256 * 1024
_DECODE_ERROR_EXIT = 69  # ffmpeg's exit status when -max_error_rate is exceeded
_DB_FLOOR = -120.0  # reported level of digital silence

T = TypeVar("T")


# --------------------------------------------------------------------------- errors


class AudioError(Exception):
    """An upload that cannot become a prompt. ``code`` is stable (``audio.*``); ``message_zh``
    and ``message_en`` tell recording staff what is wrong; ``detail`` is for the log only
    (ffmpeg's own words), never for the user.

    Codes: ``audio.empty``, ``audio.too_large``, ``audio.too_long``, ``audio.unknown_format``,
    ``audio.mismatch`` (starts like format X but is not X, or holds a codec X does not carry),
    ``audio.corrupt`` (is X but damaged: decode errors, truncated, length unknown),
    ``audio.no_audio``, ``audio.has_video``, ``audio.unsupported`` (too many channels, odd
    sample rate), ``audio.silent`` (nothing above the silence threshold), ``audio.timeout``,
    ``audio.ffmpeg_missing``.
    """

    def __init__(self, code: str, message_zh: str, message_en: str, *, detail: str = "") -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.detail = detail

    def message(self, language: str = "zh") -> str:
        return self.message_en if language.startswith("en") else self.message_zh


def _hms(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


# --------------------------------------------------------------------------- sniffing


class AudioFormat(enum.StrEnum):
    """A container recognised by :func:`sniff`; :attr:`demuxer` is the ffmpeg input format
    forced for it (``-f``)."""

    WAV = "wav"
    MP3 = "mp3"
    M4A = "m4a"
    AAC = "aac"  # raw ADTS
    OPUS = "opus"  # Ogg Opus
    VORBIS = "vorbis"  # Ogg Vorbis
    OGG = "ogg"  # another Ogg codec (FLAC, Speex)
    FLAC = "flac"
    AMR = "amr"  # AMR-NB
    AMR_WB = "amr-wb"

    @property
    def demuxer(self) -> str:
        return _SPECS[self].demuxer

    @property
    def label(self) -> str:
        return _SPECS[self].label


@dataclass(frozen=True, slots=True)
class _Spec:
    demuxer: str
    label: str
    codecs: frozenset[str]  # ffprobe codec_name of audio streams this container may carry
    covers: bool  # may carry an attached cover picture
    exact_duration: bool  # the probed duration is exact (so a short decode means truncation)


_PCM = (
    *("pcm_u8", "pcm_s8", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le"),
    *("pcm_s32be", "pcm_s64le", "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be"),
    *("pcm_mulaw", "pcm_alaw"),
)
_SPECS: dict[AudioFormat, _Spec] = {
    AudioFormat.WAV: _Spec(
        "wav",
        "WAV",
        frozenset([*_PCM, "adpcm_ima_wav", "adpcm_ms", "gsm_ms", "adpcm_g722", "mp3"]),
        covers=False,
        exact_duration=True,
    ),
    AudioFormat.MP3: _Spec("mp3", "MP3", frozenset({"mp3", "mp2", "mp1"}), True, False),
    AudioFormat.M4A: _Spec(
        "mov",
        "M4A/MP4",
        frozenset({"aac", "alac", "mp3", "opus", "flac", "amr_nb", "amr_wb"}),
        True,
        True,
    ),
    AudioFormat.AAC: _Spec("aac", "AAC", frozenset({"aac"}), False, False),
    AudioFormat.OPUS: _Spec("ogg", "Ogg Opus", frozenset({"opus"}), True, True),
    AudioFormat.VORBIS: _Spec("ogg", "Ogg Vorbis", frozenset({"vorbis"}), True, True),
    AudioFormat.OGG: _Spec(
        "ogg", "Ogg", frozenset({"opus", "vorbis", "flac", "speex"}), True, True
    ),
    AudioFormat.FLAC: _Spec("flac", "FLAC", frozenset({"flac"}), True, True),
    AudioFormat.AMR: _Spec("amr", "AMR", frozenset({"amr_nb"}), False, False),
    AudioFormat.AMR_WB: _Spec("amr", "AMR-WB", frozenset({"amr_wb"}), False, False),
}
# codec name (ffprobe) -> decoder names (what -codec_whitelist matches)
_DECODERS: dict[str, tuple[str, ...]] = {
    "mp3": ("mp3float", "mp3"),
    "mp2": ("mp2float", "mp2"),
    "mp1": ("mp1float", "mp1"),
    "aac": ("aac", "aac_fixed"),
    "opus": ("opus", "libopus"),
    "vorbis": ("vorbis", "libvorbis"),
    "speex": ("speex", "libspeex"),
    "amr_nb": ("amrnb", "libopencore_amrnb"),
    "amr_wb": ("amrwb", "libopencore_amrwb"),
    "adpcm_g722": ("g722",),
}
_COVER_DECODERS = ("mjpeg", "png")
_VIDEO_HINT = re.compile(
    r"^(h26[1-4]|hevc|mpeg[124]video|mpeg4|msmpeg4.*|vp[6-9].*|av1|libdav1d|libaom.*|theora|"
    r"wmv\d|flv|mjpeg|png|gif|bmp|prores|dnxhd|rawvideo|cinepak|.*video.*)$"
)


def _decoders(fmt: AudioFormat) -> str:
    spec = _SPECS[fmt]
    names: list[str] = []
    for codec in sorted(spec.codecs):
        names.extend(_DECODERS.get(codec, (codec,)))
    if spec.covers:
        names.extend(_COVER_DECODERS)
    return ",".join(names)


_M4A_BRANDS = frozenset(
    {
        *(b"M4A ", b"M4B ", b"F4A ", b"qt  ", b"MSNV", b"dash", b"avc1"),
        *(b"mp41", b"mp42", b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6"),
        *(b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3ge7", b"3g2a", b"3g2b"),
    }
)


def sniff(data_head: bytes) -> AudioFormat | None:
    """The audio container ``data_head`` (the first bytes of a file; :data:`SNIFF_BYTES` are
    plenty) starts with, or ``None``. Decided from content only, never from a name.

    An ID3v2 tag is skipped when it ends inside ``data_head`` (it may precede MP3, ADTS AAC or
    FLAC); an ID3 tag running past the head is taken as MP3. MPEG audio and ADTS are
    recognised by a valid frame header at the very start; ISO media (``ftyp``) only with an
    audio or generic brand (M4A, mp4x, isom, 3gp...) — a video MP4 passes sniffing and is
    refused by the probe (``audio.has_video``).
    """
    head = bytes(data_head[:SNIFF_BYTES])
    if head[:3] == b"ID3" and len(head) >= 10 and head[3] in (2, 3, 4):
        size_bytes = head[6:10]
        if any(b & 0x80 for b in size_bytes):
            return None
        size = 10 + (
            (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
        )
        if head[5] & 0x10:  # footer present
            size += 10
        inner = _sniff_plain(head[size:]) if len(head) >= size + 4 else None
        return inner if inner in (AudioFormat.AAC, AudioFormat.FLAC) else AudioFormat.MP3
    return _sniff_plain(head)


def _sniff_plain(head: bytes) -> AudioFormat | None:
    if len(head) < 4:
        return None
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return AudioFormat.WAV
    if head[:4] == b"fLaC":
        return AudioFormat.FLAC
    if head[:4] == b"OggS" and len(head) >= 27 and head[4] == 0:
        packet = head[27 + head[26] :]
        if packet.startswith(b"OpusHead"):
            return AudioFormat.OPUS
        if packet.startswith(b"\x01vorbis"):
            return AudioFormat.VORBIS
        if packet.startswith((b"\x7fFLAC", b"Speex   ")):
            return AudioFormat.OGG
        return None  # Theora video, a skeleton stream, ...
    if head.startswith(b"#!AMR-WB\n"):
        return AudioFormat.AMR_WB
    if head.startswith(b"#!AMR\n"):
        return AudioFormat.AMR
    if head[4:8] == b"ftyp" and len(head) >= 12:
        box = int.from_bytes(head[:4], "big")
        brands = [head[8:12]]
        end = min(box, len(head)) if box >= 16 else 16
        brands += [head[i : i + 4] for i in range(16, end - 3, 4)]
        return AudioFormat.M4A if any(b in _M4A_BRANDS for b in brands) else None
    b0, b1, b2 = head[0], head[1], head[2]
    if b0 == 0xFF and b1 & 0xF6 == 0xF0:  # ADTS: 12-bit sync, layer 00
        if len(head) < 7:
            return None
        frame_length = ((head[3] & 0x03) << 11) | (head[4] << 3) | (head[5] >> 5)
        if (b2 >> 2) & 0x0F < 13 and frame_length >= 7:
            return AudioFormat.AAC
        return None
    if b0 == 0xFF and b1 & 0xE0 == 0xE0:  # MPEG audio frame sync
        version, layer = (b1 >> 3) & 0x03, (b1 >> 1) & 0x03
        bitrate, rate = b2 >> 4, (b2 >> 2) & 0x03
        if version != 1 and layer != 0 and bitrate != 0x0F and rate != 0x03:
            return AudioFormat.MP3
    return None


_NOT_AUDIO: tuple[tuple[Callable[[bytes], bool], str, str], ...] = (
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), "PNG 图片", "a PNG image"),
    (lambda h: h.startswith(b"\xff\xd8\xff"), "JPEG 图片", "a JPEG image"),
    (lambda h: h.startswith((b"GIF87a", b"GIF89a")), "GIF 图片", "a GIF image"),
    (lambda h: h.startswith(b"%PDF-"), "PDF 文档", "a PDF document"),
    (
        lambda h: h.startswith((b"PK\x03\x04", b"PK\x05\x06")),
        "ZIP 压缩包（或 Office 文档）",
        "a ZIP archive (or an Office document)",
    ),
    (lambda h: h.startswith(b"Rar!"), "RAR 压缩包", "a RAR archive"),
    (lambda h: h.startswith(b"\x1a\x45\xdf\xa3"), "MKV/WebM 文件", "a Matroska/WebM file"),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"AVI ", "AVI 视频", "an AVI video"),
    (
        lambda h: h.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),
        "WMA/WMV 文件（请先转换为 MP3 或 WAV）",
        "a WMA/WMV file (convert it to MP3 or WAV first)",
    ),
    (
        lambda h: h[4:8] == b"ftyp",
        "非音频类型的 MP4/HEIF 文件",
        "an MP4/HEIF file of a non-audio brand",
    ),
    (lambda h: h.startswith((b"MZ", b"\x7fELF")), "可执行程序", "an executable program"),
    (
        lambda h: re.match(rb"\s*(<!doctype html|<html|<\?xml|<svg)", h[:512], re.I) is not None,
        "网页或 XML 文档",
        "a web page or XML document",
    ),
)


def _describe_non_audio(head: bytes) -> tuple[str, str]:
    for test, zh, en in _NOT_AUDIO:
        if test(head):
            return f"（这是{' ' if zh[0].isascii() else ''}{zh}）", f" (this is {en})"
    sample = head[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.95 * len(text):
        return "（这是文本文件）", " (this is a text file)"
    return "", ""


def _wav_header(head: bytes, size: int) -> tuple[float, float] | None:
    """(declared, present) seconds of audio per a WAV/RF64 header, or None when the header
    does not say (streaming writers leave the sizes 0 or 0xFFFFFFFF) or is not in ``head``."""
    order: Literal["little", "big"] = "big" if head[:4] == b"RIFX" else "little"
    pos, byte_rate, size64 = 12, 0, None
    while pos + 8 <= len(head):
        cid, csize = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], order)
        body = pos + 8
        if cid == b"ds64" and body + 16 <= len(head):
            size64 = int.from_bytes(head[body + 8 : body + 16], "little")
        elif cid == b"fmt " and body + 16 <= len(head):
            byte_rate = int.from_bytes(head[body + 8 : body + 12], order)
        elif cid == b"data":
            if byte_rate <= 0:
                return None
            if csize == 0xFFFFFFFF and size64 is not None:
                csize = size64
            if csize == 0xFFFFFFFF or (csize == 0 and size > body):
                return None
            present = max(0, min(csize, size - body))
            return csize / byte_rate, present / byte_rate
        pos = body + csize + (csize & 1)
    return None


# --------------------------------------------------------------------------- options, results


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """What an upload may cost. ``max_bytes`` is checked before anything runs,
    ``max_duration_s`` from the header/probe (and again on the decoded audio),
    ``time_limit_s`` is the wall-clock budget of all ffmpeg/ffprobe work for one upload.
    ``max_decode_error_rate``: the share of frames that may fail to decode (a clipped last
    frame is fine; a file of garbage is not). ``overlap_probe``: start decoding while the
    probe runs (see the module docstring)."""

    max_bytes: int = 20 * 1024 * 1024
    max_duration_s: float = 600.0
    time_limit_s: float = 60.0
    max_decode_error_rate: float = 0.02
    overlap_probe: bool = True

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_duration_s <= 0 or self.time_limit_s <= 0:
            raise ValueError("AudioLimits: sizes, durations and time limits must be positive")
        if not 0 <= self.max_decode_error_rate <= 1:
            raise ValueError("AudioLimits.max_decode_error_rate must be within 0..1")


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """How an accepted upload is processed.

    Loudness: **gated RMS in pydub/audioop, not EBU R128 ``loudnorm``.** The level of the
    20 ms frames above the silence threshold (pauses do not drag it down — a simple form of
    the gating of ITU-T P.56 / R128) is brought to ``target_dbfs``, but the gain is capped so
    the peak stays at or below ``peak_ceiling_dbfs`` (no clipping, no limiter: a prompt with a
    loud peak ends up a little quieter than the target) and never exceeds ``max_gain_db``
    (a near-silent recording is not pumped up into hiss). Why: R128 weights programme audio
    for full-band listening, while prompts are short speech heard through an 8 kHz phone line
    where what matters is that all prompts of a flow sound equally loud; and ``loudnorm`` is
    costly (it resamples to 192 kHz internally and needs two passes for a linear gain) while
    measuring and scaling 8 kHz mono PCM costs a few milliseconds. ``target_dbfs=None``
    keeps the level as recorded.

    Trimming: leading and trailing 20 ms frames below ``silence_threshold_dbfs`` are cut,
    keeping ``trim_padding_ms`` of the silence next to the sound so onsets are not clipped.
    A recording with nothing above the threshold is refused (``audio.silent``) when trimming.

    ``formats``: which files to write; ``wav`` is always written (its sha256 identifies the
    prompt). ``durable``: fsync the files and the directory before returning.
    """

    formats: tuple[OutputFormat, ...] = ("wav", "sln")
    target_dbfs: float | None = -16.0
    peak_ceiling_dbfs: float = -1.0
    max_gain_db: float = 20.0
    trim_silence: bool = True
    silence_threshold_dbfs: float = -50.0
    trim_padding_ms: int = 100
    durable: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.formats) - set(OUTPUT_FORMATS)
        if unknown:
            raise ValueError(f"ConvertOptions.formats: unknown {sorted(unknown)}")
        if "wav" not in self.formats:
            raise ValueError("ConvertOptions.formats must include 'wav'")
        if self.peak_ceiling_dbfs > 0 or self.silence_threshold_dbfs >= 0:
            raise ValueError("ConvertOptions: levels are dBFS (<= 0)")
        if self.trim_padding_ms < 0 or self.max_gain_db < 0:
            raise ValueError("ConvertOptions: trim_padding_ms and max_gain_db must be >= 0")


@dataclass(frozen=True, slots=True)
class ConvertedAudio:
    """The result of :func:`convert_upload`.

    ``format``/``codec``/``duration_s``/``sample_rate``/``channels`` describe the upload as
    probed; ``duration_ms`` the converted prompt (after trimming); ``files`` the written files
    by output format (final names ``<random hex>.<format>`` in ``workdir``: the caller owns
    them, moves or removes them) and ``outputs`` the same content as bytes (``wav`` is
    ``outputs["wav"]``); ``wav_sha256`` the hash of the ``.wav`` file; ``peak_dbfs`` /
    ``rms_dbfs`` the levels of the converted prompt (whole-file RMS; digital silence is
    reported as -120), ``gain_db`` the gain applied and ``trimmed_ms`` the (leading,
    trailing) milliseconds cut.
    """

    format: AudioFormat
    codec: str
    duration_s: float
    sample_rate: int
    channels: int
    duration_ms: int
    files: Mapping[str, Path]
    outputs: Mapping[str, bytes] = field(repr=False)
    wav_sha256: str
    peak_dbfs: float
    rms_dbfs: float
    gain_db: float
    trimmed_ms: tuple[int, int] = (0, 0)

    @property
    def wav(self) -> bytes:
        """The 8 kHz mono 16-bit PCM ``.wav`` file's bytes."""
        return self.outputs["wav"]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": str(self.format),
            "codec": self.codec,
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "duration_ms": self.duration_ms,
            "files": {k: str(v) for k, v in self.files.items()},
            "sizes": {k: len(v) for k, v in self.outputs.items()},
            "wav_sha256": self.wav_sha256,
            "peak_dbfs": round(self.peak_dbfs, 2),
            "rms_dbfs": round(self.rms_dbfs, 2),
            "gain_db": round(self.gain_db, 2),
            "trimmed_ms": list(self.trimmed_ms),
        }


# --------------------------------------------------------------------------- display names

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def safe_display_name(name: str, *, max_length: int = 100, fallback: str = "upload") -> str:
    """The uploaded file's name, fit for *showing* (never for a path): directories dropped
    (``/`` and ``\\`` separators, ``..``), NUL, control, format (bidi overrides, zero-width)
    and unassigned characters removed, whitespace collapsed, at most ``max_length``
    characters (the extension is kept when shortening). ``fallback`` if nothing remains."""
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(" " if ch.isspace() else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _UNSAFE_CATEGORIES)
    text = re.split(r"[/\\]", text)[-1]
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text or set(text) <= {"."}:
        return fallback
    if len(text) > max_length:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10 and max_length > len(ext) + 2:
            text = stem[: max_length - len(ext) - 2].rstrip() + "…." + ext
        else:
            text = text[: max_length - 1].rstrip() + "…"
    return text


# --------------------------------------------------------------------------- subprocesses


@dataclass(slots=True)
class _Capture:
    limit: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - self.limit)]

    def text(self) -> str:
        gap = "\n[...]\n" if self.total > len(self.head) + len(self.tail) else ""
        return (bytes(self.head).decode(errors="replace") + gap) + bytes(self.tail).decode(
            errors="replace"
        )


@dataclass(frozen=True, slots=True)
class _Completed:
    returncode: int
    stdout: bytes
    stderr: str
    overflow: bool  # stdout went over its limit (the process was killed)


async def _run(argv: list[str], *, stdout_limit: int) -> _Completed:
    """Run ``argv`` (no shell, stdin /dev/null), capturing stdout up to ``stdout_limit``
    bytes (beyond: kill) and the head and tail of stderr. If the caller is cancelled (the
    time limit), the process is killed and reaped before the cancellation propagates."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: killed as a whole, no tty signals
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise _missing(argv[0]) from exc
    out: list[bytes] = []
    err = _Capture(_STDERR_KEEP)
    overflow = False

    async def read_stdout() -> None:
        nonlocal overflow
        assert proc.stdout is not None
        total = 0
        while chunk := await proc.stdout.read(1 << 16):
            if overflow:
                continue
            total += len(chunk)
            if total > stdout_limit:
                overflow = True
                out.clear()
                _kill_group(proc)
            else:
                out.append(chunk)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(1 << 16):
            err.add(chunk)

    # The readers are never cancelled: they end when the pipes close, which happens at once
    # when the process group is killed; so the transport is always closed and the process
    # always reaped. (The time limit bounds the wait for a process that does not exit.)
    drain = asyncio.gather(read_stdout(), read_stderr())
    try:
        await asyncio.shield(drain)
        returncode = await proc.wait()
    finally:
        if proc.returncode is None or not drain.done():
            _kill_group(proc)
        await _complete(asyncio.ensure_future(_settle(drain, proc)))
    return _Completed(returncode, b"".join(out), err.text(), overflow)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process and anything it started (its own session/process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _settle(drain: asyncio.Future[Any], proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(Exception):
        await drain
    await proc.wait()


async def _complete(future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done even if this task is cancelled meanwhile (for clean-up
    that must finish and is quick: reaping a killed process); a cancellation received while
    waiting is re-raised afterwards. The future's own exception is not raised."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            cancelled = True
    if not future.cancelled():
        future.exception()  # retrieved
    if cancelled:
        raise asyncio.CancelledError


def _missing(name: str) -> AudioError:
    return AudioError(
        "audio.ffmpeg_missing",
        f"服务器上找不到音频转换工具 {name}，请联系管理员安装 ffmpeg。",
        f"The audio converter {name} is not available on the server; "
        "ask the administrator to install ffmpeg.",
    )


def _which(binary: str | os.PathLike[str]) -> str:
    found = shutil.which(os.fspath(binary))
    if found is None:
        raise _missing(os.fspath(binary))
    return found


def _input_args(fmt: AudioFormat, path: Path) -> list[str]:
    args = [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        fmt.demuxer,
        "-codec_whitelist",
        _decoders(fmt),
        "-f",
        fmt.demuxer,
    ]
    if fmt is AudioFormat.M4A:
        args += ["-enable_drefs", "0"]
    return [*args, "-i", f"file:{path}"]


# --------------------------------------------------------------------------- probe


@dataclass(frozen=True, slots=True)
class _Probe:
    codec: str
    sample_rate: int
    channels: int
    duration_s: float


_NOT_ON_WHITELIST = re.compile(r"Codec \((\w+)\) not on whitelist")


def _mismatch(fmt: AudioFormat, detail: str) -> AudioError:
    label = fmt.label
    return AudioError(
        "audio.mismatch",
        f"文件开头是 {label} 格式的标记，但内容无法按 {label} 读取：文件已损坏，"
        "或是伪装成音频的其他文件。",
        f"The file starts with the marks of {label} but cannot be read as {label}: it is "
        "damaged, or another kind of file in disguise.",
        detail=detail,
    )


def _codec_mismatch(fmt: AudioFormat, codec: str, detail: str = "") -> AudioError:
    label = fmt.label
    return AudioError(
        "audio.mismatch",
        f"这个 {label} 文件里是 {codec} 编码的数据，不是 {label} 上传可接受的音频编码"
        "（少见的变体，或经过伪装的文件）。请导出为 WAV 或 MP3 等常见格式后再上传。",
        f"This {label} file holds {codec} data, which is not an accepted audio codec for "
        f"{label} uploads (an unusual variant, or a disguised file). Export it as WAV, MP3 or "
        "another common format and upload again.",
        detail=detail,
    )


def _has_video(what: str, detail: str = "") -> AudioError:
    return AudioError(
        "audio.has_video",
        f"文件中含有视频（{what}）。请上传纯音频文件，或先从视频中导出声音。",
        f"The file contains video ({what}). Upload an audio-only file, or export the sound "
        "from the video first.",
        detail=detail,
    )


def _too_long(duration: float, limits: AudioLimits, *, header: bool = False) -> AudioError:
    zh_what, en_what = ("文件头声明的时长", "its header declares") if header else ("时长", "it is")
    return AudioError(
        "audio.too_long",
        f"音频太长：{zh_what} {_hms(duration)}，上限为 {_hms(limits.max_duration_s)}。",
        f"The audio is too long: {en_what} {_hms(duration)}; "
        f"the limit is {_hms(limits.max_duration_s)}.",
    )


def _silent_file() -> AudioError:
    return AudioError(
        "audio.no_audio", "文件中没有声音（时长为 0）。", "The file contains no sound (0 s)."
    )


def _corrupt(zh: str, en: str, detail: str = "") -> AudioError:
    return AudioError("audio.corrupt", zh, en, detail=detail)


def _check_probe(fmt: AudioFormat, done: _Completed, limits: AudioLimits) -> _Probe:
    if done.returncode != 0 or done.overflow:
        refused = _NOT_ON_WHITELIST.search(done.stderr)
        if refused and _VIDEO_HINT.match(refused.group(1)):
            raise _has_video(refused.group(1), done.stderr)
        if refused:
            raise _codec_mismatch(fmt, refused.group(1), done.stderr)
        raise _mismatch(fmt, done.stderr)
    try:
        info = json.loads(done.stdout)
        streams: list[dict[str, Any]] = list(info.get("streams") or [])
        container: dict[str, Any] = dict(info.get("format") or {})
    except (ValueError, TypeError, AttributeError) as exc:
        raise _mismatch(fmt, f"ffprobe output: {exc}") from None
    spec = _SPECS[fmt]
    audio: list[dict[str, Any]] = []
    for stream in streams:
        kind = stream.get("codec_type")
        codec = str(stream.get("codec_name") or "unknown")
        cover = (stream.get("disposition") or {}).get("attached_pic") == 1
        if kind == "audio":
            audio.append(stream)
        elif kind == "video" and not (cover and spec.covers):
            raise _has_video(codec)
        elif kind != "video":
            raise AudioError(
                "audio.mismatch",
                f"文件中含有音频以外的数据流（{kind}: {codec}），不像是一个普通的 "
                f"{fmt.label} 音频文件。",
                f"The file contains a non-audio stream ({kind}: {codec}); it is not a plain "
                f"{fmt.label} audio file.",
            )
    if not audio:
        raise AudioError(
            "audio.no_audio",
            "文件中没有音频。",
            "The file contains no audio stream.",
            detail=done.stdout.decode(errors="replace"),
        )
    first = audio[0]
    codec = str(first.get("codec_name") or "unknown")
    if codec not in spec.codecs:
        raise _codec_mismatch(fmt, codec)
    duration = _float(container.get("duration"))
    if duration is None:
        duration = _float(first.get("duration"))
    if duration is None:
        raise _corrupt(
            "无法确定音频时长，文件可能已损坏或不完整。",
            "The length of the audio cannot be determined; the file is probably damaged or "
            "incomplete.",
        )
    if duration > limits.max_duration_s:
        raise _too_long(duration, limits)
    if duration <= 0:
        raise _silent_file()
    channels = int(first.get("channels") or 0)
    rate = int(_float(first.get("sample_rate")) or 0)
    if not 1 <= channels <= _MAX_CHANNELS:
        raise AudioError(
            "audio.unsupported",
            f"不支持 {channels} 声道的音频（最多 {_MAX_CHANNELS} 声道）。",
            f"Audio with {channels} channels is not supported (at most {_MAX_CHANNELS}).",
        )
    if not 1000 <= rate <= 768_000:
        raise AudioError(
            "audio.unsupported",
            f"不支持 {rate} Hz 的采样率。",
            f"A sample rate of {rate} Hz is not supported.",
        )
    return _Probe(codec, rate, channels, duration)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


async def _probe(ffprobe: str, fmt: AudioFormat, path: Path) -> _Completed:
    argv = [
        ffprobe,
        "-hide_banner",
        "-v",
        "error",
        *_input_args(fmt, path),
        "-of",
        "json",
        "-show_entries",
        "stream=index,codec_type,codec_name,sample_rate,channels,duration"
        ":stream_disposition=attached_pic:format=format_name,duration",
    ]
    return await _run(argv, stdout_limit=_PROBE_STDOUT_LIMIT)


async def _decode(ffmpeg: str, fmt: AudioFormat, path: Path, limits: AudioLimits) -> _Completed:
    guard = limits.max_duration_s + 1
    argv = [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-v",
        "error",
        "-max_error_rate",
        f"{limits.max_decode_error_rate:g}",
        *_input_args(fmt, path),
        "-map",
        "0:a:0",
        "-t",
        f"{guard:g}",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-c:a",
        "pcm_s16le",
        "-flush_packets",
        "0",  # write the pipe in 32 KiB blocks, not one write (and one wake-up here) per frame
        "-f",
        "s16le",
        "pipe:1",
    ]
    return await _run(argv, stdout_limit=int((guard + 1) * SAMPLE_RATE * 2))


def _check_decode(fmt: AudioFormat, probe: _Probe, done: _Completed, limits: AudioLimits) -> bytes:
    if done.overflow:
        raise _too_long(limits.max_duration_s + 1, limits)
    if done.returncode == _DECODE_ERROR_EXIT:
        raise _corrupt(
            "音频数据已损坏：解码时大量出错。请重新导出或重新录制。",
            "The audio data is damaged: many frames failed to decode. Export or record it again.",
            done.stderr,
        )
    if done.returncode != 0:
        raise _corrupt(
            "音频解码失败，文件可能已损坏。",
            "Decoding the audio failed; the file is probably damaged.",
            done.stderr,
        )
    pcm = done.stdout[: len(done.stdout) & ~1]
    decoded = len(pcm) / (2 * SAMPLE_RATE)
    if decoded < 0.01:
        raise _corrupt(
            "没能从文件中解码出任何声音，文件可能已损坏。",
            "No sound could be decoded from the file; it is probably damaged.",
            done.stderr,
        )
    if decoded > limits.max_duration_s + 0.5:
        raise _too_long(decoded, limits)
    if _SPECS[fmt].exact_duration and decoded < probe.duration_s - max(0.5, 0.1 * probe.duration_s):
        raise _truncated(probe.duration_s, decoded, done.stderr)
    return pcm


def _truncated(declared: float, present: float, detail: str = "") -> AudioError:
    return _corrupt(
        f"文件不完整：应有 {_hms(declared)} 的音频，实际只有 {_hms(present)}"
        "（上传或导出被中断？）。",
        f"The file is truncated: it should hold {_hms(declared)} of audio but only "
        f"{_hms(present)} is there (an interrupted upload or export?).",
        detail,
    )


# --------------------------------------------------------------------------- processing

_FRAME_MS = 20
_FRAME_BYTES = SAMPLE_RATE * 2 * _FRAME_MS // 1000


def _db(amplitude: float) -> float:
    return max(_DB_FLOOR, 20 * math.log10(amplitude / 32768)) if amplitude > 0 else _DB_FLOOR


@dataclass(frozen=True, slots=True)
class _Rendered:
    outputs: dict[str, bytes]
    duration_ms: int
    peak_dbfs: float
    rms_dbfs: float
    gain_db: float
    trimmed_ms: tuple[int, int]


def _render(pcm: bytes, options: ConvertOptions) -> _Rendered:
    """Trim, normalise and export decoded 8 kHz mono s16le PCM (CPU only, no I/O)."""
    segment = AudioSegment(data=pcm, sample_width=2, frame_rate=SAMPLE_RATE, channels=1)
    gate = 32768 * 10 ** (options.silence_threshold_dbfs / 20)
    frames = [audioop.rms(pcm[i : i + _FRAME_BYTES], 2) for i in range(0, len(pcm), _FRAME_BYTES)]
    active = [i for i, level in enumerate(frames) if level > gate]
    total_ms = len(segment)
    trimmed = (0, 0)
    if options.trim_silence:
        if not active:
            raise AudioError(
                "audio.silent",
                f"录音中没有声音（全部低于静音阈值 {options.silence_threshold_dbfs:g} dBFS）。"
                "请检查麦克风后重新录制。",
                "The recording is silent (nothing above the silence threshold of "
                f"{options.silence_threshold_dbfs:g} dBFS). Check the microphone and record "
                "again.",
            )
        start = max(0, active[0] * _FRAME_MS - options.trim_padding_ms)
        end = min(total_ms, (active[-1] + 1) * _FRAME_MS + options.trim_padding_ms)
        if start > 0 or end < total_ms:
            segment = segment[start:end]
            trimmed = (start, total_ms - end)
    gain = 0.0
    if options.target_dbfs is not None and active:
        level = math.sqrt(sum(frames[i] ** 2 for i in active) / len(active))
        peak = segment.max
        gain = options.target_dbfs - _db(level)
        if peak > 0:
            gain = min(gain, options.peak_ceiling_dbfs - _db(peak))
        gain = min(gain, options.max_gain_db)
        if abs(gain) >= 0.05:
            segment = segment.apply_gain(gain)
        else:
            gain = 0.0
    raw = segment.raw_data
    buffer = segment.export(io.BytesIO(), format="wav")  # pydub returns the (open) file
    try:
        wav = buffer.getvalue()
    finally:
        buffer.close()
    outputs: dict[str, bytes] = {"wav": wav}
    if "sln" in options.formats:
        outputs["sln"] = raw
    if "ulaw" in options.formats:
        outputs["ulaw"] = audioop.lin2ulaw(raw, 2)
    if "alaw" in options.formats:
        outputs["alaw"] = audioop.lin2alaw(raw, 2)
    return _Rendered(
        outputs,
        duration_ms=len(segment),
        peak_dbfs=_db(segment.max),
        rms_dbfs=_db(segment.rms),
        gain_db=round(gain, 2),
        trimmed_ms=trimmed,
    )


def _absolute(path: Path) -> Path:
    # ffmpeg gets "file:" + an absolute path: never a relative name, a "-option" or "proto:"
    return Path(os.path.abspath(path))


def _make_workdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return _absolute(path)


def _read_head(path: Path) -> tuple[int, bytes]:
    with open(path, "rb") as f:
        return os.fstat(f.fileno()).st_size, f.read(SNIFF_BYTES)


def _write_new(path: Path, data: bytes, *, durable: bool = False) -> None:
    with open(path, "xb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())


def _unlink_all(paths: Any) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _commit(
    workdir: Path, stem: str, outputs: Mapping[str, bytes], durable: bool
) -> dict[str, Path]:
    """Write every output under a temporary name, then rename them all into place; on any
    error remove whatever was written or renamed."""
    temps: list[Path] = []
    finals: dict[str, Path] = {}
    try:
        for ext, data in outputs.items():
            temp = workdir / f".{stem}.{ext}.part"
            temps.append(temp)
            _write_new(temp, data, durable=durable)
        for ext, temp in zip(outputs, temps, strict=True):
            final = workdir / f"{stem}.{ext}"
            os.replace(temp, final)
            finals[ext] = final
        if durable:
            fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        _unlink_all([*temps, *finals.values()])
        raise
    return finals


async def _in_thread(fn: Callable[[], T], undo: Callable[[T], None]) -> T:
    """Run ``fn`` in the default executor. If the caller is cancelled meanwhile, the thread
    cannot be stopped: ``undo`` its result when it finishes, so nothing is left behind."""
    future = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:

        def abandon(f: asyncio.Future[T]) -> None:
            if not f.cancelled() and f.exception() is None:
                undo(f.result())

        future.add_done_callback(abandon)
        raise


# --------------------------------------------------------------------------- entry point


async def convert_upload(
    data: bytes | Path,
    *,
    limits: AudioLimits,
    options: ConvertOptions,
    workdir: Path,
    ffmpeg: str | os.PathLike[str] = "ffmpeg",
    ffprobe: str | os.PathLike[str] = "ffprobe",
) -> ConvertedAudio:
    """Check, decode, process and store one uploaded audio file (see the module docstring).

    ``data`` is the upload's content, or the path of a file holding it (which is read, never
    modified or removed). Outputs are written into ``workdir`` (created if missing) under a
    random server-generated stem; a ``bytes`` upload is staged there as a hidden temporary
    file while ffmpeg reads it. ``ffmpeg``/``ffprobe`` name the binaries (searched on PATH).
    Raises :class:`AudioError`; on any error nothing is left in ``workdir``.
    """
    if isinstance(data, str):
        raise TypeError("convert_upload: pass bytes or a pathlib.Path, not str")
    if isinstance(data, Path):
        size, head = await asyncio.to_thread(_read_head, data)
    else:
        size = len(data)
        head = bytes(data[:SNIFF_BYTES])
    if size == 0:
        raise AudioError("audio.empty", "文件是空的（0 字节）。", "The file is empty (0 bytes).")
    if size > limits.max_bytes:
        raise AudioError(
            "audio.too_large",
            f"文件太大：{_mb(size)}，上限为 {_mb(limits.max_bytes)}。",
            f"The file is too large: {_mb(size)}; the limit is {_mb(limits.max_bytes)}.",
        )
    fmt = sniff(head)
    if fmt is None:
        zh, en = _describe_non_audio(head)
        raise AudioError(
            "audio.unknown_format",
            f"无法识别的音频格式{zh}。支持 WAV、MP3、M4A/AAC、OGG（Opus/Vorbis）、FLAC、AMR。",
            f"Not a supported audio file{en}. Supported: WAV, MP3, M4A/AAC, Ogg (Opus, Vorbis), "
            "FLAC, AMR.",
        )
    if fmt is AudioFormat.WAV and (declared := _wav_header(head, size)) is not None:
        if declared[0] > limits.max_duration_s:
            raise _too_long(declared[0], limits, header=True)
        if declared[0] == 0:
            raise _silent_file()
        missing = declared[0] - declared[1]
        if missing > max(0.1, 0.01 * declared[0]):
            raise _truncated(*declared)
    ffprobe_path, ffmpeg_path = _which(ffprobe), _which(ffmpeg)

    workdir = await asyncio.to_thread(_make_workdir, Path(workdir))
    stem = secrets.token_hex(16)
    staged: Path | None = None
    try:
        if isinstance(data, Path):
            source = _absolute(data)
        else:
            staged = source = workdir / f".{stem}.upload.part"
            upload = data
            await _in_thread(lambda: _write_new(source, upload), lambda _: _unlink_all([source]))
        try:
            async with asyncio.timeout(limits.time_limit_s):
                probe, pcm = await _probe_and_decode(ffprobe_path, ffmpeg_path, fmt, source, limits)
        except TimeoutError:
            raise AudioError(
                "audio.timeout",
                f"音频转换超时（超过 {limits.time_limit_s:g} 秒），文件可能有异常。",
                f"Converting the audio took longer than {limits.time_limit_s:g} s; the file may "
                "be malformed.",
            ) from None

        def finish() -> tuple[_Rendered, str, dict[str, Path]]:
            rendered = _render(pcm, options)
            sha = hashlib.sha256(rendered.outputs["wav"]).hexdigest()
            return rendered, sha, _commit(workdir, stem, rendered.outputs, options.durable)

        rendered, sha, files = await _in_thread(finish, lambda done: _unlink_all(done[2].values()))
    finally:
        if staged is not None:
            _unlink_all([staged])
    return ConvertedAudio(
        format=fmt,
        codec=probe.codec,
        duration_s=probe.duration_s,
        sample_rate=probe.sample_rate,
        channels=probe.channels,
        duration_ms=rendered.duration_ms,
        files=files,
        outputs=rendered.outputs,
        wav_sha256=sha,
        peak_dbfs=rendered.peak_dbfs,
        rms_dbfs=rendered.rms_dbfs,
        gain_db=rendered.gain_db,
        trimmed_ms=rendered.trimmed_ms,
    )


async def _probe_and_decode(
    ffprobe: str, ffmpeg: str, fmt: AudioFormat, source: Path, limits: AudioLimits
) -> tuple[_Probe, bytes]:
    if not limits.overlap_probe:
        probe = _check_probe(fmt, await _probe(ffprobe, fmt, source), limits)
        return probe, _check_decode(fmt, probe, await _decode(ffmpeg, fmt, source, limits), limits)
    decoding = asyncio.ensure_future(_decode(ffmpeg, fmt, source, limits))
    try:
        probe = _check_probe(fmt, await _probe(ffprobe, fmt, source), limits)
        return probe, _check_decode(fmt, probe, await decoding, limits)
    finally:
        if not decoding.done():
            decoding.cancel()  # _run kills and reaps the decoder
        await _complete(decoding)
