"""Benchmark: TTS placeholder synthesis with espeak-ng vs the TTS cache hit.
A script that prints latencies and a ratio, never a timed test.

Run:  .venv/bin/python benchmarks/bench_tts.py            (30 misses, 5,000 hits per row)
      .venv/bin/python benchmarks/bench_tts.py --quick    (8 misses, 500 hits per row)

For a typical prompt of 30 Chinese characters (zh-CN, voice cmn-latn-pinyin), in a temporary
cache directory:

* espeak-ng synthesis alone (``EspeakTts.synthesize``: digits spelled out, process started,
  22.05 kHz WAV read back);
* conversion to Asterisk's 8 kHz mono WAV with ffmpeg (``to_asterisk_wav_async``);
* a cache miss (``TtsCache.get_or_make`` on a new text: synthesis + conversion + atomic write);
* cache hits: warm (the same ``TtsCache``), cold (a new ``TtsCache`` on the same directory, as
  another process would see it: the file is found on disk and its header read) and through the
  production chain edge → espeak (the edge key is looked up first and missed, then espeak's;
  no network is touched on a hit).

Edge-tts is not measured (it needs the internet). Prints mean / p50 / p95 per row and the
miss / hit ratio (p50).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

from prompts.tts import (
    EspeakTts,
    FallbackTts,
    TtsCache,
    default_tts,
    spell_numbers,
    to_asterisk_wav_async,
)

BASE = "您好，欢迎致电住房公积金服务热线，查询余额请按一，贷款请按"  # 29 characters
DISTINCT = "一二三四五六七八九十甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥春夏秋冬东南西北"


def prompt(i: int) -> str:
    """The i-th distinct 30-character prompt."""
    return BASE + DISTINCT[i % len(DISTINCT)] * (1 + i // len(DISTINCT))


async def timed(n: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    """Milliseconds of each of ``n`` sequential awaits of ``step(i)``."""
    samples = []
    for i in range(n):
        started = time.perf_counter_ns()
        await step(i)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def row(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{label:<44}{len(samples):>6}{statistics.fmean(samples):>11.3f}"
        f"{statistics.median(samples):>10.3f}{p95:>10.3f}"
    )


def version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except OSError:
        return "missing"
    return out.splitlines()[0].strip() if out else "?"


async def measure(misses: int, hits: int) -> None:
    espeak = EspeakTts()
    assert len(prompt(0)) == 30
    wav = await espeak.synthesize(prompt(0), language="zh-CN", voice=None)  # warm-up

    rows: list[tuple[str, list[float]]] = []
    rows.append(
        (
            "spell_numbers (text rules only)",
            await timed(hits, lambda i: _spell("请拨打12329，贷款额度3500元")),
        )
    )
    rows.append(
        (
            "espeak-ng synthesis (22.05 kHz WAV)",
            await timed(
                misses, lambda i: espeak.synthesize(prompt(i), language="zh-CN", voice=None)
            ),
        )
    )
    rows.append(
        (
            "ffmpeg 22.05 kHz -> 8 kHz WAV",
            await timed(misses, lambda i: to_asterisk_wav_async(wav, input_format="wav")),
        )
    )
    with tempfile.TemporaryDirectory(prefix="bench-tts-") as directory:
        cache = TtsCache(directory, FallbackTts([espeak]))
        miss = await timed(misses, lambda i: cache.get_or_make(prompt(i), "zh-CN"))
        assert cache.stats.synthesized == misses
        rows.append(("cache miss (synthesis + ffmpeg + write)", miss))
        warm = await timed(hits, lambda i: cache.get_or_make(prompt(i % misses), "zh-CN"))
        rows.append(("cache hit, warm (same TtsCache)", warm))
        fresh = [TtsCache(directory, FallbackTts([espeak])) for _ in range(min(hits, 1000))]
        cold = await timed(  # each lookup on a TtsCache that has not seen the file yet
            len(fresh), lambda i: fresh[i].get_or_make(prompt(i % misses), "zh-CN")
        )
        assert all(c.stats.hits == 1 and c.stats.synthesized == 0 for c in fresh)
        rows.append(("cache hit, cold (new TtsCache: file on disk)", cold))
        chain = TtsCache(directory, default_tts())
        via_chain = await timed(hits, lambda i: chain.get_or_make(prompt(i % misses), "zh-CN"))
        assert chain.stats.synthesized == 0 and chain.stats.hits == hits
        rows.append(("cache hit, edge -> espeak chain (2 lookups)", via_chain))

    print(f"{'step':<44}{'n':>6}{'mean ms':>11}{'p50 ms':>10}{'p95 ms':>10}")
    for label, samples in rows:
        print(row(label, samples))
    print(
        f"cache miss / hit (p50): {statistics.median(miss) / statistics.median(warm):,.0f}x warm,"
        f" {statistics.median(miss) / statistics.median(cold):,.0f}x cold,"
        f" {statistics.median(miss) / statistics.median(via_chain):,.0f}x via the chain"
    )


async def _spell(text: str) -> str:
    return spell_numbers(text, "zh-CN")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 misses, 500 hits per row")
    opts = parser.parse_args()
    misses, hits = (8, 500) if opts.quick else (30, 5000)
    print(
        f"ivrflow TTS benchmark ({'quick' if opts.quick else 'full'} run): prompt of 30 Chinese"
        f" characters, zh-CN, espeak-ng voice cmn-latn-pinyin"
    )
    print(f"  {version(['espeak-ng', '--version'])}")
    print(f"  {version(['ffmpeg', '-version'])}")
    print(f"  Python {sys.version.split()[0]}, sequential requests (one at a time)\n")
    asyncio.run(measure(misses, hits))


if __name__ == "__main__":
    main()
