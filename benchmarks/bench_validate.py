"""Benchmark: full flow validation vs bare jsonschema, and interpreter speed.

Run:  .venv/bin/python benchmarks/bench_validate.py

Prints, for generated flows of 100, 500 and 2,000 nodes, in one run:
  * full validation (document schema + every node config + wiring + graph + references),
  * bare validation of the same document against the flow JSON Schema with a precompiled
    ``jsonschema`` (Python) validator — the floor of any validator built on jsonschema — and
    the ratio between them;
  * for reference, the same bare check with ``jsonschema-rs`` (which ivrflow uses for its
    fast path), and the ratio to that;
and interpreter steps per second on the simulator. Goals: 2,000 nodes <= 200 ms, ratio <= 3x.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator

from runtime.flow import flow_schema
from runtime.simulator import simulate
from runtime.validate import validate


def generate(n: int) -> dict[str, Any]:
    """A realistic flow of about ``n`` nodes: menus fanning out to plays, collects, lookups,
    branches and hang-ups, joined back into a tree of menus."""
    nodes: dict[str, Any] = {
        "start": {"type": "core.start", "version": 1, "exits": {"next": "m0"}},
        "bye": {"type": "core.hangup", "version": 1, "config": {"prompts": ["bye"]}},
        "busy": {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": ["busy"]},
            "exits": {"next": "bye"},
        },
    }
    prompts = {p: {"text": {"zh-CN": p}} for p in ("bye", "busy", "menu", "enter", "result")}
    variables = {
        "acct": {"type": "string"},
        "balance": {"type": "number", "default": 0},
        "tries": {"type": "number", "default": 0},
    }
    menus = ["m0"]
    i = 0
    while len(nodes) + 16 < n:
        menu = menus.pop(0)
        keys = ["1", "2", "3", "4"]
        exits: dict[str, str] = {"timeout": "bye", "invalid": "bye"}
        for key in keys:
            i += 1
            base = f"n{i}"
            kind = i % 4
            if kind == 0:
                nodes[base] = {
                    "type": "core.play",
                    "version": 1,
                    "config": {"prompts": ["result"]},
                    "exits": {"next": "bye"},
                }
            elif kind == 1:
                nodes[base] = {
                    "type": "core.collect",
                    "version": 1,
                    "config": {"prompts": ["enter"], "variable": "acct", "max_digits": 8},
                    "exits": {"ok": f"{base}h", "timeout": "bye", "invalid": "bye"},
                }
                nodes[f"{base}h"] = {
                    "type": "core.http",
                    "version": 1,
                    "config": {
                        "url": "http://127.0.0.1:9/acct/{{acct}}",
                        "save": {"balance": "/balance"},
                    },
                    "exits": {"ok": f"{base}s", "error": "busy", "timeout": "busy"},
                }
                nodes[f"{base}s"] = {
                    "type": "core.say",
                    "version": 1,
                    "config": {"kind": "money", "value": "{{balance}}"},
                    "exits": {"next": "bye", "error": "busy"},
                }
            elif kind == 2:
                nodes[base] = {
                    "type": "core.branch",
                    "version": 1,
                    "config": {"rules": [{"exit": "rich", "when": "balance > 1000 and tries < 3"}]},
                    "exits": {"rich": "bye", "default": "bye", "error": "busy"},
                }
            else:
                menus.append(base)
                nodes[base] = None  # filled as a menu later
            exits[key] = base
        nodes[menu] = {
            "type": "core.menu",
            "version": 1,
            "config": {"prompts": ["menu"], "options": [{"key": k} for k in keys]},
            "exits": exits,
            "ui": {"x": i * 10, "y": i * 5},
        }
    for node_id, value in list(nodes.items()):
        if value is None:
            nodes[node_id] = {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["result"]},
                "exits": {"next": "bye"},
            }
    return {
        "schema_version": 1,
        "id": f"bench-{n}",
        "name": f"bench {n}",
        "variables": variables,
        "prompts": prompts,
        "settings": {"fallback": "busy"},
        "nodes": nodes,
    }


def best_of(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> int:
    bare = Draft202012Validator(flow_schema())
    rust = jsonschema_rs.Draft202012Validator(flow_schema())
    print(
        f"{'nodes':>6} {'bytes':>9} {'full ms (min/med)':>19} {'jsonschema (min/med)':>21} "
        f"{'ratio':>6} {'jsonschema-rs':>14} {'ratio':>6}"
    )
    for n in (100, 500, 2000):
        doc = generate(n)
        size = len(json.dumps(doc))
        result = validate(doc)
        assert result.ok, [p.render(language="en") for p in result.errors][:5]
        full_min, full_med = best_of(lambda d=doc: validate(d), 15)
        bare_min, bare_med = best_of(lambda d=doc: bare.validate(d), 15)
        _, rust_med = best_of(lambda d=doc: rust.is_valid(d), 15)
        print(
            f"{len(doc['nodes']):>6} {size:>9,} {full_min:>8.1f} / {full_med:>8.1f} "
            f"{bare_min:>9.1f} / {bare_med:>9.1f} {full_med / bare_med:>5.2f}x "
            f"{rust_med:>11.1f} ms {full_med / rust_med:>5.1f}x"
        )
    print("(ratio = full validation / bare schema check of the same document, medians)")

    # interpreter speed: a long chain of cheap steps in the simulator
    steps = 900
    nodes = {"start": {"type": "core.start", "version": 1, "exits": {"next": "s0"}}}
    for i in range(steps):
        nodes[f"s{i}"] = {
            "type": "core.set_variable",
            "version": 1,
            "config": {"assignments": [{"variable": "n", "expression": "n + 1"}]},
            "exits": {"next": f"s{i + 1}" if i + 1 < steps else "bye"},
        }
    nodes["bye"] = {"type": "core.hangup", "version": 1}
    doc = {
        "schema_version": 1,
        "id": "chain",
        "name": "chain",
        "nodes": nodes,
        "variables": {"n": {"type": "number", "default": 0}},
        "settings": {"fallback": "bye", "step_cap": 10000},
    }
    flow = validate(doc).flow
    assert flow is not None

    async def calls(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            trace, _ = await simulate(flow)
            assert trace.outcome.kind == "completed", trace.outcome
        return time.perf_counter() - t0

    elapsed = asyncio.run(calls(20))
    total = 20 * (steps + 2)
    print(
        f"\ninterpreter: {total:,} steps in {elapsed:.2f} s = {total / elapsed:,.0f} steps/s "
        f"({elapsed / total * 1e6:.1f} us/step, simulator channel, set_variable chain)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
