"""Tests for prompts.audio: sniffing, hardened probe/decode, processing and atomic output.

Fixtures are generated once per session with ffmpeg (a few processes in all); the tests that
need ffmpeg skip, saying so, where it is not installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import os
import random
import re
import shutil
import struct
import subprocess
import time
import wave
import zipfile
from pathlib import Path

import pytest

import prompts.audio as audio_module
from prompts.audio import (
    AudioError,
    AudioFormat,
    AudioLimits,
    ConvertedAudio,
    ConvertOptions,
    convert_upload,
    safe_display_name,
    sniff,
)

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None or FFPROBE is None,
    reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg) — conversion tests skipped",
)
LIMITS = AudioLimits()
ALL_OUTPUTS = ConvertOptions(formats=("wav", "sln", "ulaw", "alaw"))
KEEP = ConvertOptions(trim_silence=False)


def _ffmpeg(*args: str) -> None:
    assert FFMPEG is not None
    subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        check=True,
        timeout=60,
    )


def _encoders() -> str:
    assert FFMPEG is not None
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout


# name -> (file, sniffed format, codec)
FORMATS = {
    "wav48k-stereo": ("tone.wav", AudioFormat.WAV, "pcm_s16le"),
    "mp3": ("tone.mp3", AudioFormat.MP3, "mp3"),
    "m4a": ("tone.m4a", AudioFormat.M4A, "aac"),
    "aac-adts": ("tone.aac", AudioFormat.AAC, "aac"),
    "ogg-opus": ("tone.opus", AudioFormat.OPUS, "opus"),
    "ogg-vorbis": ("tone.ogg", AudioFormat.VORBIS, "vorbis"),
    "flac": ("tone.flac", AudioFormat.FLAC, "flac"),
}


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture file, made by three ffmpeg runs (one input, many outputs each)."""
    if FFMPEG is None or FFPROBE is None:
        pytest.skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg)")
    d = tmp_path_factory.mktemp("audio-samples")
    # 2 s, 48 kHz stereo: 440 Hz left, 660 Hz right, at half scale
    tone = "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*660*t):s=48000:d=2"
    # 2 s, 16 kHz mono: 0.5 s silence, 1 s tone, 0.5 s silence
    padded = "aevalsrc=if(between(t\\,0.5\\,1.5)\\,0.5*sin(2*PI*440*t)\\,0):s=16000:d=2"
    _ffmpeg(
        *("-f", "lavfi", "-i", tone, "-f", "lavfi", "-i", padded),
        *("-map", "0:a", "-c:a", "pcm_s16le", str(d / "tone.wav")),
        *("-map", "0:a", "-c:a", "libmp3lame", "-b:a", "128k", str(d / "tone.mp3")),
        *("-map", "0:a", "-c:a", "aac", "-b:a", "96k", str(d / "tone.m4a")),
        *("-map", "0:a", "-c:a", "aac", "-b:a", "96k", "-f", "adts", str(d / "tone.aac")),
        *("-map", "0:a", "-c:a", "libopus", "-b:a", "48k", "-f", "ogg", str(d / "tone.opus")),
        *("-map", "0:a", "-c:a", "libvorbis", "-f", "ogg", str(d / "tone.ogg")),
        *("-map", "0:a", "-c:a", "flac", str(d / "tone.flac")),
        *("-map", "1:a", "-c:a", "pcm_s16le", str(d / "padded.wav")),
        *("-map", "1:a", "-c:a", "pcm_s16le", "-af", "volume=0", str(d / "silent.wav")),
        # a real 10-hour WAV, kept small: 100 Hz, 8-bit (3.6 MB)
        *("-f", "lavfi", "-i", "anullsrc=r=100:cl=mono:d=36000"),
        *("-map", "2:a", "-c:a", "pcm_u8", str(d / "ten-hours.wav")),
    )
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc=size=64x64:rate=5:d=2", "-f", "lavfi", "-i", "sine=d=2"),
        *("-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-c:a", "aac", str(d / "video.mp4")),
        *("-map", "1:a", "-map", "0:v", "-frames:v", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg"),
        *("-disposition:v", "attached_pic", "-id3v2_version", "3", str(d / "cover.mp3")),
        # an M4A holding only a cover picture
        *("-map", "0:v", "-frames:v", "1", "-c:v", "png", "-disposition:v", "attached_pic"),
        *("-f", "ipod", str(d / "cover-only.m4a")),
    )
    if "libopencore_amrnb" in _encoders():
        _ffmpeg(
            *("-f", "lavfi", "-i", "sine=d=2:sample_rate=8000"),
            *("-c:a", "libopencore_amrnb", "-b:a", "12.2k", str(d / "tone.amr")),
        )
    return d


def _listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


async def _convert(
    data: bytes | Path,
    workdir: Path,
    *,
    limits: AudioLimits = LIMITS,
    options: ConvertOptions = KEEP,
    **kwargs: str,
) -> ConvertedAudio:
    return await convert_upload(data, limits=limits, options=options, workdir=workdir, **kwargs)


async def _refused(
    data: bytes | Path,
    workdir: Path,
    code: str,
    *,
    limits: AudioLimits = LIMITS,
    options: ConvertOptions = KEEP,
    **kwargs: str,
) -> AudioError:
    """The upload is refused with ``code``, with both messages, and nothing is left behind."""
    with pytest.raises(AudioError) as caught:
        await _convert(data, workdir, limits=limits, options=options, **kwargs)
    err = caught.value
    assert err.code == code, (err.code, err.message_en, err.detail[-500:])
    assert err.message_zh and err.message_en and err.message("en") == err.message_en
    assert _listing(workdir) == [], "an error left files behind"
    return err


def _wav_params(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / 8000


# --------------------------------------------------------------------------- sniffing


def _ogg_page(packet: bytes) -> bytes:
    return b"OggS\x00\x02" + bytes(20) + b"\x01" + bytes([len(packet)]) + packet


ID3_THEN = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10)  # a 10-byte tag body
ADTS = bytes([0xFF, 0xF1, 0x4C, 0x80, 0x22, 0x7F, 0xFC])
SNIFF_CASES = [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", AudioFormat.WAV),
    (b"RF64\xff\xff\xff\xffWAVEds64", AudioFormat.WAV),
    (b"ID3\x03\x00\x00\x00\x00\x10\x00" + bytes(100), AudioFormat.MP3),  # tag runs past head
    (bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(50), AudioFormat.MP3),
    (bytes([0xFF, 0xF3, 0x48, 0xC4]) + bytes(50), AudioFormat.MP3),  # MPEG-2 layer III
    (ADTS + bytes(20), AudioFormat.AAC),
    (ID3_THEN + ADTS + bytes(20), AudioFormat.AAC),
    (ID3_THEN + b"fLaC\x00\x00\x00\x22", AudioFormat.FLAC),
    (b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00M4A isomiso2", AudioFormat.M4A),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", AudioFormat.M4A),
    (b"\x00\x00\x00\x18ftypXXXX\x00\x00\x00\x00isomXXXX", AudioFormat.M4A),  # compatible brand
    (_ogg_page(b"OpusHead\x01\x02"), AudioFormat.OPUS),
    (_ogg_page(b"\x01vorbis\x00\x00"), AudioFormat.VORBIS),
    (_ogg_page(b"\x7fFLAC\x01\x00"), AudioFormat.OGG),
    (b"fLaC\x00\x00\x00\x22", AudioFormat.FLAC),
    (b"#!AMR\n\x3c", AudioFormat.AMR),
    (b"#!AMR-WB\n\x04", AudioFormat.AMR_WB),
]
NOT_AUDIO = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(30),
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    "html": b"<!DOCTYPE html><html><head><title>x</title>",
    "text": "录音稿：您好，欢迎致电 12329 住房公积金热线。\n".encode(),
    "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    "theora": _ogg_page(b"\x80theora\x03\x02"),
    "riff-avi": b"RIFF\x24\x00\x00\x00AVI LIST",
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",
    "amr-mc": b"#!AMR_MC1.0\n\x00\x00\x00\x01",
    "mpeg-reserved": bytes([0xFF, 0xFB, 0xF0, 0x00]),  # bitrate index 15: not a frame
    "short": b"RI",
}


@pytest.mark.parametrize(("head", "expected"), SNIFF_CASES)
def test_sniff_recognises_audio_containers(head: bytes, expected: AudioFormat) -> None:
    assert sniff(head) is expected


@pytest.mark.parametrize("kind", sorted(NOT_AUDIO))
def test_sniff_rejects_everything_else(kind: str) -> None:
    assert sniff(NOT_AUDIO[kind]) is None
    assert sniff(b"") is None


def test_formats_name_the_demuxer_to_force() -> None:
    demuxers = {fmt: fmt.demuxer for fmt in AudioFormat}
    assert demuxers[AudioFormat.WAV] == "wav"
    assert demuxers[AudioFormat.M4A] == "mov"
    assert demuxers[AudioFormat.OPUS] == demuxers[AudioFormat.VORBIS] == "ogg"
    assert demuxers[AudioFormat.AMR] == demuxers[AudioFormat.AMR_WB] == "amr"
    assert {demuxers[f] for f in (AudioFormat.MP3, AudioFormat.AAC, AudioFormat.FLAC)} == {
        "mp3",
        "aac",
        "flac",
    }


@needs_ffmpeg
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_sniff_generated_files(samples: Path, name: str) -> None:
    file, fmt, _ = FORMATS[name]
    assert sniff((samples / file).read_bytes()[:4096]) is fmt


# --------------------------------------------------------------------------- conversion


@needs_ffmpeg
@pytest.mark.parametrize("name", sorted(FORMATS))
async def test_converts_every_format(samples: Path, tmp_path: Path, name: str) -> None:
    file, fmt, codec = FORMATS[name]
    result = await _convert(samples / file, tmp_path / "out")
    assert (result.format, result.codec) == (fmt, codec)
    assert (result.sample_rate, result.channels) == (48000, 2)
    assert result.duration_s == pytest.approx(2.0, abs=0.1)
    assert result.duration_ms == pytest.approx(2000, abs=60)
    assert set(result.files) == {"wav", "sln"}
    rate, channels, width, seconds = _wav_params(result.files["wav"])
    assert (rate, channels, width) == (8000, 1, 2)
    assert seconds * 1000 == pytest.approx(result.duration_ms, abs=1)
    assert result.files["sln"].stat().st_size == round(seconds * 8000) * 2
    assert hashlib.sha256(result.files["wav"].read_bytes()).hexdigest() == result.wav_sha256
    # server-generated names only, and no temporary file left over
    stems = {p.stem for p in result.files.values()}
    assert len(stems) == 1 and re.fullmatch(r"[0-9a-f]{32}", stems.pop())
    assert _listing(tmp_path / "out") == sorted(p.name for p in result.files.values())
    assert (samples / file).exists()  # the caller's file is read, not consumed


@needs_ffmpeg
async def test_48k_stereo_wav_to_8k_mono_all_outputs(samples: Path, tmp_path: Path) -> None:
    data = (samples / "tone.wav").read_bytes()
    result = await _convert(data, tmp_path, options=ALL_OUTPUTS)  # bytes upload
    assert (result.format, result.sample_rate, result.channels) == (AudioFormat.WAV, 48000, 2)
    rate, channels, width, seconds = _wav_params(result.files["wav"])
    assert (rate, channels, width) == (8000, 1, 2)
    assert seconds == pytest.approx(2.0, abs=0.01)
    header = result.files["wav"].read_bytes()[:44]
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    assert struct.unpack("<HHIIHH", header[20:36]) == (1, 1, 8000, 16000, 2, 16)
    frames = round(seconds * 8000)
    sln = result.files["sln"].read_bytes()
    assert len(sln) == 2 * frames
    ulaw, alaw = result.files["ulaw"].read_bytes(), result.files["alaw"].read_bytes()
    assert len(ulaw) == len(alaw) == frames
    # G.711 round trip stays close to the linear signal
    g711 = audio_module.audioop  # the deprecated stdlib module, imported there without warnings
    lin = g711.ulaw2lin(ulaw, 2)
    assert g711.rms(lin, 2) == pytest.approx(g711.rms(sln, 2), rel=0.05)
    sizes = {"wav": len(header) + len(sln), "sln": 2 * frames, "ulaw": frames, "alaw": frames}
    assert result.to_json()["sizes"] == sizes
    assert result.wav == result.files["wav"].read_bytes() == result.outputs["wav"]
    assert all(result.outputs[k] == p.read_bytes() for k, p in result.files.items())
    # a sine mix: RMS brought to the -16 dBFS target (peak far below the ceiling)
    assert result.rms_dbfs == pytest.approx(-16.0, abs=0.3)
    assert result.peak_dbfs <= -1.0
    assert _listing(tmp_path) == sorted(p.name for p in result.files.values())
    assert result.to_json()["files"]["wav"] == str(result.files["wav"])


@needs_ffmpeg
async def test_trims_silence_and_keeps_padding(samples: Path, tmp_path: Path) -> None:
    trimmed = await _convert(samples / "padded.wav", tmp_path / "a", options=ConvertOptions())
    lead, trail = trimmed.trimmed_ms
    assert lead == pytest.approx(400, abs=25) and trail == pytest.approx(400, abs=25)
    assert trimmed.duration_ms == pytest.approx(1200, abs=40)
    kept = await _convert(samples / "padded.wav", tmp_path / "b", options=KEEP)
    assert kept.trimmed_ms == (0, 0) and kept.duration_ms == 2000
    strict = ConvertOptions(trim_padding_ms=0, silence_threshold_dbfs=-40)
    tight = await _convert(samples / "padded.wav", tmp_path / "c", options=strict)
    assert tight.duration_ms == pytest.approx(1000, abs=40)


@needs_ffmpeg
async def test_levels_gain_and_ceiling(samples: Path, tmp_path: Path) -> None:
    as_recorded = await _convert(
        samples / "tone.wav", tmp_path / "a", options=ConvertOptions(target_dbfs=None)
    )
    assert as_recorded.gain_db == 0.0
    # a target the peak ceiling does not allow: stopped at the ceiling
    loud = ConvertOptions(target_dbfs=-3.0, peak_ceiling_dbfs=-1.0)
    capped = await _convert(samples / "tone.wav", tmp_path / "b", options=loud)
    assert capped.peak_dbfs == pytest.approx(-1.0, abs=0.2)
    assert capped.rms_dbfs < -3.0
    expected_gain = capped.peak_dbfs - as_recorded.peak_dbfs
    assert capped.gain_db == pytest.approx(expected_gain, abs=0.2)


@needs_ffmpeg
async def test_silent_recording(samples: Path, tmp_path: Path) -> None:
    await _refused(samples / "silent.wav", tmp_path / "a", "audio.silent", options=ConvertOptions())
    kept = await _convert(samples / "silent.wav", tmp_path / "b", options=KEEP)
    assert kept.gain_db == 0.0 and kept.peak_dbfs == -120.0 and kept.duration_ms == 2000


@needs_ffmpeg
async def test_content_wins_over_the_extension(samples: Path, tmp_path: Path) -> None:
    disguised = tmp_path / "录音.wav"
    disguised.write_bytes((samples / "tone.mp3").read_bytes())
    result = await _convert(disguised, tmp_path / "out")
    assert (result.format, result.codec) == (AudioFormat.MP3, "mp3")
    assert all("录音" not in str(p) for p in result.files.values())


@needs_ffmpeg
async def test_cover_art_is_allowed_and_video_is_not(samples: Path, tmp_path: Path) -> None:
    result = await _convert(samples / "cover.mp3", tmp_path / "a")
    assert result.codec == "mp3"
    err = await _refused(samples / "video.mp4", tmp_path / "b", "audio.has_video")
    assert "mpeg4" in err.message_en


@needs_ffmpeg
async def test_no_audio(samples: Path, tmp_path: Path) -> None:
    await _refused(samples / "cover-only.m4a", tmp_path / "a", "audio.no_audio")
    await _refused(_wav_header(0, present=0), tmp_path / "b", "audio.no_audio")


@needs_ffmpeg
async def test_too_many_channels(tmp_path: Path) -> None:
    channels, rate, frames = 12, 8000, 8000
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    data = bytes(frames * 2 * channels)
    riff = struct.pack("<I", 36 + len(data))
    wav = b"RIFF" + riff + b"WAVEfmt \x10\0\0\0" + fmt + b"data" + struct.pack("<I", len(data))
    err = await _refused(wav + data, tmp_path, "audio.unsupported")
    assert "12 channels" in err.message_en


@needs_ffmpeg
async def test_sequential_probe_gives_the_same_prompt(samples: Path, tmp_path: Path) -> None:
    overlapped = await _convert(samples / "tone.flac", tmp_path / "a")
    sequential = await _convert(
        samples / "tone.flac", tmp_path / "b", limits=AudioLimits(overlap_probe=False)
    )
    assert overlapped.wav_sha256 == sequential.wav_sha256


@needs_ffmpeg
async def test_amr_nb(samples: Path, tmp_path: Path) -> None:
    if not (samples / "tone.amr").exists():
        pytest.skip(
            "this ffmpeg has no libopencore_amrnb encoder (Debian's build: AMR can be decoded "
            "but not encoded), so no AMR fixture can be made; AMR sniffing is tested above"
        )
    result = await _convert(samples / "tone.amr", tmp_path)
    assert (result.format, result.codec, result.sample_rate) == (AudioFormat.AMR, "amr_nb", 8000)


# --------------------------------------------------------------------------- refusals


async def test_empty_upload(tmp_path: Path) -> None:
    await _refused(b"", tmp_path / "a", "audio.empty")
    empty = tmp_path / "upload"
    empty.write_bytes(b"")
    await _refused(empty, tmp_path / "b", "audio.empty")


async def test_over_size(tmp_path: Path) -> None:
    data = b"RIFF" + bytes(2000)
    err = await _refused(data, tmp_path, "audio.too_large", limits=AudioLimits(max_bytes=1000))
    assert "MB" in err.message_en
    assert AudioLimits().max_bytes == 20 * 1024 * 1024


@pytest.mark.parametrize("kind", ["png", "zip", "pdf", "html", "text", "heic"])
async def test_not_audio(tmp_path: Path, kind: str) -> None:
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("prompt.wav", b"RIFF")
        data = buffer.getvalue()
    else:
        data = NOT_AUDIO[kind] + (b" " if kind == "text" else b"\0") * 100
    err = await _refused(data, tmp_path, "audio.unknown_format")
    hints = {"png": "PNG", "zip": "ZIP", "pdf": "PDF", "html": "web page", "text": "text"}
    hint = hints.get(kind, "MP4/HEIF")
    assert hint in err.message_en and "WAV" in err.message_zh


def _wav_header(seconds: float, *, rate: int = 8000, present: int = 8000) -> bytes:
    size = int(seconds * rate) * 2
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    riff = min(36 + size, 0xFFFFFFFF)
    head = b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    return head + b"data" + struct.pack("<I", size) + bytes(present * 2)


async def test_ten_hour_wav_header_refused_without_decoding(tmp_path: Path) -> None:
    started = time.perf_counter()
    err = await _refused(_wav_header(36000), tmp_path, "audio.too_long")
    assert time.perf_counter() - started < 0.5
    assert "10:00:00" in err.message_en and "10:00:00" in err.message_zh


@needs_ffmpeg
async def test_real_ten_hour_wav_refused_quickly(samples: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    await _refused(samples / "ten-hours.wav", tmp_path, "audio.too_long")
    assert time.perf_counter() - started < 0.5


@needs_ffmpeg
async def test_too_long_by_probe(samples: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    short = AudioLimits(max_duration_s=1.0)
    for file in ("tone.mp3", "tone.m4a"):
        err = await _refused(samples / file, tmp_path, "audio.too_long", limits=short)
        assert "2.0 s" in err.message_en or "2.1 s" in err.message_en
    assert time.perf_counter() - started < 3


@needs_ffmpeg
async def test_truncated_wav(samples: Path, tmp_path: Path) -> None:
    data = (samples / "tone.wav").read_bytes()
    err = await _refused(data[: len(data) // 3], tmp_path, "audio.corrupt")
    assert "truncated" in err.message_en


@needs_ffmpeg
async def test_truncated_flac(samples: Path, tmp_path: Path) -> None:
    data = (samples / "tone.flac").read_bytes()
    await _refused(data[: len(data) // 3], tmp_path, "audio.corrupt")


@needs_ffmpeg
async def test_corrupt_mp3(samples: Path, tmp_path: Path) -> None:
    noise = random.Random(12329).randbytes(40_000)
    good = (samples / "tone.mp3").read_bytes()
    # a third of a real MP3, then noise: opens as MP3, then most frames fail to decode
    err = await _refused(good[: len(good) // 3] + noise, tmp_path / "a", "audio.corrupt")
    assert "decode" in err.message_en
    # one valid frame header, then noise: cannot even be opened as MP3
    await _refused(bytes([0xFF, 0xFB, 0x90, 0x64]) + noise, tmp_path / "b", "audio.mismatch")


@needs_ffmpeg
async def test_polyglots(samples: Path, tmp_path: Path) -> None:
    mp3 = (samples / "tone.mp3").read_bytes()
    wav = (samples / "tone.wav").read_bytes()
    # starts like a WAV, is an MP3 behind the RIFF header: not demuxable as WAV
    await _refused(b"RIFF\x00\x00\x00\x00WAVE" + mp3, tmp_path / "a", "audio.mismatch")
    # a real WAV header whose format tag says WMA: the WMA decoder is never allowed to run
    wma = bytearray(wav)
    wma[20:22] = struct.pack("<H", 0x0161)
    err = await _refused(bytes(wma), tmp_path / "b", "audio.mismatch")
    assert "wmav2" in err.message_en
    # ID3 tag in front of a PNG: sniffed as MP3, refused by the probe
    await _refused(ID3_THEN + NOT_AUDIO["png"] * 50, tmp_path / "c", "audio.mismatch")
    # WAV + ZIP (valid as both): the audio is accepted, the payload does not survive
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("payload.html", "<script>alert(1)</script>")
    result = await _convert(wav + buffer.getvalue(), tmp_path / "d", options=ALL_OUTPUTS)
    for path in result.files.values():
        blob = path.read_bytes()
        assert b"PK\x03\x04" not in blob and b"<script>" not in blob


async def test_ffmpeg_missing(tmp_path: Path) -> None:
    data = _wav_header(1.0)
    err = await _refused(data, tmp_path / "a", "audio.ffmpeg_missing", ffmpeg="/nonexistent/ffmpeg")
    assert "/nonexistent/ffmpeg" in err.message_en
    await _refused(data, tmp_path / "b", "audio.ffmpeg_missing", ffprobe="no-such-ffprobe-here")


def _children() -> list[str]:
    """This process's child processes (zombies included), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == os.getpid():
                found.append(f"{entry.name} {stat[stat.index('(') : stat.rindex(')') + 1]}")
    return found


def _fake(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def _recorded(tool: Path) -> list[str]:
    return Path(f"{tool}.args").read_text().splitlines()


@needs_ffmpeg
@pytest.mark.parametrize("limit", [0.001, 0.03])
async def test_timeout_kills_ffmpeg(samples: Path, tmp_path: Path, limit: float) -> None:
    started = time.perf_counter()
    err = await _refused(
        (samples / "tone.flac").read_bytes(),
        tmp_path,
        "audio.timeout",
        limits=AudioLimits(time_limit_s=limit),
    )
    assert f"{limit:g} s" in err.message_en
    assert time.perf_counter() - started < 1.0
    assert _children() == []  # killed and reaped


@needs_ffmpeg
async def test_hung_decoder_is_killed(samples: Path, tmp_path: Path) -> None:
    hung = _fake(tmp_path / "bin", "ffmpeg", "exec sleep 30")
    started = time.perf_counter()
    limits = AudioLimits(time_limit_s=0.5)
    await _refused(
        samples / "tone.mp3", tmp_path / "out", "audio.timeout", limits=limits, ffmpeg=str(hung)
    )
    assert time.perf_counter() - started < 2.0
    assert _children() == []


@needs_ffmpeg
async def test_endless_output_is_cut_off(samples: Path, tmp_path: Path) -> None:
    flood = _fake(tmp_path / "bin", "ffmpeg", "cat /dev/zero; yes 1>&2")
    limits = AudioLimits(max_duration_s=1.0, time_limit_s=10)
    await _refused(
        samples / "tone.mp3", tmp_path / "a", "audio.too_long", limits=limits, ffmpeg=str(flood)
    )
    assert _children() == []


@needs_ffmpeg
async def test_command_lines_are_hardened(samples: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    record = 'printf "%s\\n" "$@" > "$0.args"; exit 1'
    probe, decode = _fake(bin_dir, "ffprobe", record), _fake(bin_dir, "ffmpeg", record)
    sequential = AudioLimits(overlap_probe=False)
    data = (samples / "tone.m4a").read_bytes()
    await _refused(data, tmp_path / "a", "audio.mismatch", limits=sequential, ffprobe=str(probe))
    await _refused(data, tmp_path / "b", "audio.corrupt", limits=sequential, ffmpeg=str(decode))
    for tool, workdir in ((probe, tmp_path / "a"), (decode, tmp_path / "b")):
        argv = _recorded(tool)
        pairs = dict(itertools.pairwise(argv[: argv.index("-i") + 2]))  # the input's options
        assert pairs["-f"] == pairs["-format_whitelist"] == "mov"
        assert pairs["-protocol_whitelist"] == "file"
        assert pairs["-enable_drefs"] == "0"
        decoders = pairs["-codec_whitelist"].split(",")
        assert "aac" in decoders and "h264" not in decoders and "hevc" not in decoders
        source = pairs["-i"]
        assert source.startswith("file:/")  # absolute, never "proto:..." or "-option"
        assert Path(source[5:]).parent == workdir.resolve()
        assert re.fullmatch(r"\.[0-9a-f]{32}\.upload\.part", Path(source).name)
    argv = _recorded(decode)
    assert "-nostdin" in argv and argv[argv.index("-t") + 1] == "601"
    assert argv[argv.index("-map") + 1] == "0:a:0" and argv[-1] == "pipe:1"


@needs_ffmpeg
async def test_failed_commit_leaves_nothing(
    samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renames: list[str] = []
    real_replace = os.replace

    def flaky_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        renames.append(str(dst))
        if len(renames) == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(audio_module.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="No space"):
        await _convert(samples / "tone.wav", tmp_path, options=ALL_OUTPUTS)
    assert len(renames) == 3  # two outputs were already in place, then rolled back
    assert _listing(tmp_path) == []


@needs_ffmpeg
async def test_cancelled_conversion_leaves_nothing(samples: Path, tmp_path: Path) -> None:
    data = (samples / "tone.wav").read_bytes()
    for delay in (0.0, 0.03, 0.08):
        workdir = tmp_path / f"w{delay}"
        task = asyncio.create_task(_convert(data, workdir, options=ALL_OUTPUTS))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:  # finished before the cancel arrived: its files are legitimately there
            shutil.rmtree(workdir)
        for _ in range(100):  # a worker thread that was mid-write cleans up after itself
            if not _listing(workdir):
                break
            await asyncio.sleep(0.01)
        assert _listing(workdir) == []


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("欢迎语.mp3", "欢迎语.mp3"),
        ("../../etc/passwd", "passwd"),
        ("/var/lib/asterisk/sounds/x.wav", "x.wav"),
        ("C:\\Users\\张三\\Desktop\\菜单 1.wav", "菜单 1.wav"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("a\x00b.wav", "ab.wav"),
        ("line\r\nbreak\t.wav", "line break .wav"),
        ("evil\u202egnp.wav", "evilgnp.wav"),  # bidi override removed
        ("..", "upload"),
        ("../", "upload"),
        ("", "upload"),
        ("  \x01\x02  ", "upload"),
    ],
)
def test_safe_display_name(name: str, shown: str) -> None:
    assert safe_display_name(name) == shown


def test_safe_display_name_limits_length() -> None:
    long = "公积金" * 100 + ".wav"
    shown = safe_display_name(long)
    assert len(shown) == 100 and shown.endswith("….wav")
    assert len(safe_display_name("x" * 500, max_length=20)) == 20
    assert safe_display_name("x" * 500 + ".verylongextension", max_length=20).endswith("…")
