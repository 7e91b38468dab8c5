"""Benchmark: uploaded prompt conversion (prompts.audio.convert_upload) vs a bare ffmpeg CLI.

Run:  .venv/bin/python benchmarks/bench_prompts.py            (10 clips, 3-60 s, 3 rounds)
      .venv/bin/python benchmarks/bench_prompts.py --quick    (10 clips, 3-12 s, 1 round)

Ten real-length clips in mixed formats (WAV 44.1/48 kHz, MP3, M4A, ADTS AAC, Ogg Opus,
Ogg Vorbis, FLAC; mono and stereo) of speech-like sound — pink noise band-limited to
100-3400 Hz, shaped into ~4 syllables a second with a pause every 2.4 s — are made with ffmpeg
in a temporary directory (not timed). Then, in the same run and interleaved file by file:

  bare     ``ffmpeg -nostdin -v error -y -i X -ac 1 -ar 8000 -c:a pcm_s16le out.wav``: the floor,
           one process, no checks, run with ``subprocess.run``;
  ivrflow  ``convert_upload(Path(X), ...)`` with the default limits and options: sniff, WAV header
           check, ffprobe (JSON) and the ffmpeg decode (overlapped, the default), silence trim,
           loudness normalisation, .wav + .sln written under temporary names, fsync'ed and
           renamed;
  seq      the same with ``AudioLimits(overlap_probe=False)``: decode only after the probe.

Per file: the median wall time over the rounds, and ivrflow / bare (goal <= 1.3x). Totals:
sum of the medians and their ratio; "audio s per CPU s" = seconds of audio converted per
second of CPU (``resource.getrusage`` RUSAGE_SELF + RUSAGE_CHILDREN, user + system, over all
rounds). The machine line says how busy all CPUs were (``/proc/stat``), this benchmark
included: timings on a shared machine move with its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prompts.audio import AudioLimits, ConvertOptions, convert_upload

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"

# (seconds, file name, sample rate, channels, ffmpeg output options)
CLIPS = [
    (3, "welcome.wav", 44100, 1, ["-c:a", "pcm_s16le"]),
    (5, "menu.mp3", 44100, 1, ["-c:a", "libmp3lame", "-b:a", "64k"]),
    (8, "balance.m4a", 48000, 2, ["-c:a", "aac", "-b:a", "96k"]),
    (12, "loan.opus", 48000, 1, ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"]),
    (15, "hours.ogg", 44100, 2, ["-c:a", "libvorbis", "-q:a", "4"]),
    (20, "agent.flac", 48000, 2, ["-c:a", "flac"]),
    (30, "policy.wav", 48000, 2, ["-c:a", "pcm_s16le"]),
    (40, "notice.mp3", 44100, 2, ["-c:a", "libmp3lame", "-b:a", "128k"]),
    (50, "rules.aac", 44100, 2, ["-c:a", "aac", "-b:a", "128k", "-f", "adts"]),
    (60, "guide.m4a", 44100, 1, ["-c:a", "aac", "-b:a", "64k"]),
]
SPEECHLIKE = (
    "highpass=f=100,lowpass=f=3400,"
    "volume='if(lt(mod(t,2.4),1.9),0.25+0.75*abs(sin(2*PI*2*t)),0.02)':eval=frame"
)


def make_clips(folder: Path, quick: bool) -> list[tuple[Path, str, float]]:
    clips = []
    for seconds, name, rate, channels, options in CLIPS:
        length = max(3, seconds // 5) if quick else seconds
        path = folder / name
        subprocess.run(
            [
                *(FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi"),
                *("-i", f"anoisesrc=c=pink:r={rate}:a=0.5:d={length}:seed={seconds}"),
                *("-af", SPEECHLIKE, "-ac", str(channels), *options, str(path)),
            ],
            check=True,
        )
        clips.append((path, path.suffix.lstrip("."), float(length)))
    return clips


def cpu_seconds() -> float:
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def machine_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Side:
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: float = 0.0
    audio: float = 0.0

    def add(self, name: str, wall: float, cpu: float, audio: float) -> None:
        self.wall.setdefault(name, []).append(wall)
        self.cpu += cpu
        self.audio += audio

    def ms(self, name: str) -> float:
        return statistics.median(self.wall[name]) * 1000

    def total_ms(self) -> float:
        return sum(self.ms(name) for name in self.wall)


def bare(path: Path, out: Path) -> None:
    subprocess.run(
        [
            *(FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(path)),
            *("-ac", "1", "-ar", "8000", "-c:a", "pcm_s16le", str(out)),
        ],
        check=True,
    )


async def run(opts: argparse.Namespace, folder: Path) -> None:
    clips = make_clips(folder, opts.quick)
    out = folder / "out"
    sides = {"bare": Side(), "ivrflow": Side(), "seq": Side()}
    limits = {"ivrflow": AudioLimits(), "seq": AudioLimits(overlap_probe=False)}
    options = ConvertOptions()
    checked: dict[str, tuple[int, float]] = {}
    busy0, total0 = machine_jiffies()
    started = time.perf_counter()
    for _ in range(opts.rounds):
        for path, _, seconds in clips:
            for label, side in sides.items():
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                if label == "bare":
                    bare(path, out.with_suffix(".wav"))
                    wall = time.perf_counter() - t0
                else:
                    result = await convert_upload(
                        path, limits=limits[label], options=options, workdir=out
                    )
                    wall = time.perf_counter() - t0
                    checked[path.name] = (result.duration_ms, result.gain_db)
                    for file in result.files.values():
                        file.unlink()
                side.add(path.name, wall, cpu_seconds() - cpu0, seconds)
    elapsed = time.perf_counter() - started
    busy1, total1 = machine_jiffies()

    b, i, s = sides["bare"], sides["ivrflow"], sides["seq"]
    print(
        f"{'file':<14} {'format':<6} {'seconds':>7} {'bare ms':>8} {'ivrflow ms':>10} "
        f"{'ratio':>6} {'seq ms':>7} {'ratio':>6}  {'out ms':>7} {'gain dB':>7}"
    )
    for path, fmt, seconds in clips:
        name = path.name
        duration_ms, gain = checked[name]
        print(
            f"{name:<14} {fmt:<6} {seconds:>7.0f} {b.ms(name):>8.1f} {i.ms(name):>10.1f} "
            f"{i.ms(name) / b.ms(name):>5.2f}x {s.ms(name):>7.1f} {s.ms(name) / b.ms(name):>5.2f}x"
            f"  {duration_ms:>7} {gain:>+7.1f}"
        )
    audio_s = sum(seconds for _, _, seconds in clips)
    print(
        f"{'total':<14} {'':<6} {audio_s:>7.0f} {b.total_ms():>8.1f} {i.total_ms():>10.1f} "
        f"{i.total_ms() / b.total_ms():>5.2f}x {s.total_ms():>7.1f} "
        f"{s.total_ms() / b.total_ms():>5.2f}x"
    )
    ratio = i.total_ms() / b.total_ms()
    print(
        f"\nivrflow / bare (sum of per-file medians, {opts.rounds} round(s)): {ratio:.2f}x "
        f"(goal <= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}); "
        f"probe after decode (seq): {s.total_ms() / b.total_ms():.2f}x"
    )
    runs = opts.rounds * len(clips)
    for label, side in sides.items():
        print(
            f"{label:<8} {side.audio:>6.0f} s of audio in {side.cpu:>6.2f} CPU s = "
            f"{side.audio / side.cpu:>6.0f} audio s per CPU s "
            f"({side.cpu / side.audio * 1000:.1f} CPU ms per audio s, "
            f"{side.cpu / runs * 1000:.0f} CPU ms per file)"
        )
    cores = os.cpu_count() or 1
    print(
        f"machine: {(busy1 - busy0) / max(1, total1 - total0):.0%} of {cores} CPUs busy over "
        f"the {elapsed:.1f} s of measurement (this benchmark included); "
        f"load average now {os.getloadavg()[0]:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="clips of 3-12 s, one round")
    parser.add_argument("--rounds", type=int, help="rounds over all clips (default 3, quick 1)")
    opts = parser.parse_args()
    opts.rounds = opts.rounds or (1 if opts.quick else 3)
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        print("ffmpeg/ffprobe not found on PATH (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    version = subprocess.run(
        [FFMPEG, "-version"], capture_output=True, text=True, check=True
    ).stdout.split(" Copyright")[0]
    print(
        f"prompt conversion benchmark ({'quick' if opts.quick else 'full'} run, "
        f"{opts.rounds} round(s); {version}; {os.cpu_count()} CPUs)\n"
    )
    with tempfile.TemporaryDirectory(prefix="bench-prompts-") as tmp:
        asyncio.run(run(opts, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
