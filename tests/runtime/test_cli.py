"""The ``ivrflow`` command line: exit codes, human and JSON output, in both languages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli import main

ROOT = Path(__file__).parents[2]
MAIN = str(ROOT / "examples" / "12329" / "main.json")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_valid_files_exit_0(capsys):
    files = [str(p) for p in sorted((ROOT / "examples" / "12329").glob("*.json"))]
    code, out, _ = run(capsys, "validate", *files)
    assert code == 0
    assert out.count("通过（0 个错误，0 个警告）") == len(files)


def test_validate_invalid_exit_1_with_located_problems(capsys, tmp_path):
    doc = json.loads(Path(MAIN).read_text("utf-8"))
    doc["nodes"]["main_menu"]["exits"]["1"] = "nowhere"
    doc["nodes"]["welcome"]["type"] = "core.plya"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), "utf-8")
    code, out, _ = run(capsys, "validate", "--lang", "en", str(path))
    assert code == 1
    lines = out.splitlines()
    unknown = next(line for line in lines if "[exit.unknown_target]" in line)
    assert unknown.startswith(f"{path}:")
    line_no = int(unknown.split(":")[1])
    assert '"1": "nowhere"' in path.read_text("utf-8").splitlines()[line_no - 1]
    assert any("[node.unknown_type] node welcome" in line for line in lines)
    assert "INVALID" in lines[-1]


def test_validate_unusable_input_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": ', "utf-8")
    code, out, _ = run(capsys, "validate", str(bad), MAIN)
    assert code == 2
    assert "[json.syntax]" in out and "第 1 行" in out


def test_validate_json_output(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe")
    code, out, _ = run(capsys, "validate", "--json", MAIN, str(bad))
    assert code == 2
    data = json.loads(out)
    assert data["exit_code"] == 2
    first, second = data["files"]
    assert first["ok"] is True and first["problems"] == []
    assert second["unusable"] is True
    assert second["problems"][0]["code"] == "json.encoding"


def test_schema_prints_the_shipped_schema(capsys):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://")
    assert schema["properties"]["schema_version"] == {
        "const": 1,
        "description": "Version of this document format.",
    }


def test_nodes_json_has_schemas_and_exits(capsys):
    code, out, _ = run(capsys, "nodes", "--json")
    assert code == 0
    data = json.loads(out)
    menu = next(n for n in data["nodes"] if n["type"] == "core.menu")
    assert menu["exits_from_config"] is True
    assert menu["config_schema"]["properties"]["options"]["type"] == "array"
    assert menu["title"]["zh"] and menu["title"]["en"]
    assert set(data["categories"]) >= {"input", "logic", "transfer"}


def test_simulate_prints_the_trace(capsys):
    code, out, _ = run(
        capsys, "simulate", MAIN, "--keys", "4 2 * h", "--at", "2026-10-09 10:00", "--lang", "en"
    )
    assert code == 0
    assert "policy_withdrawal" in out
    assert "提取住房公积金" in out  # the prompt text heard
    assert out.rstrip().endswith("Outcome: caller hung up (node main_menu): caller hung up")


def test_simulate_json(capsys):
    code, out, _ = run(
        capsys,
        "simulate",
        MAIN,
        "--keys",
        "0 1",
        "--json",
        "--queue",
        "timeout",
        "--at",
        "2026-10-09 10:00",
    )
    assert code == 0
    data = json.loads(out)
    path = [(s["flow"], s["node"]) for s in data["steps"]]
    # in the agent sub-flow the queue timed out, 1 = voicemail; back in the main flow, goodbye
    assert path[-4:] == [
        ("12329-agent", "queue_busy"),
        ("12329-agent", "leave_voicemail"),
        ("12329-agent", "ret_done"),
        ("12329-main", "goodbye"),
    ]
    assert data["outcome"]["kind"] == "completed"
    assert data["unused_keys"] == []


def test_simulate_bad_input(capsys, tmp_path):
    code, _, err = run(capsys, "simulate", MAIN, "--keys", "1 abc")
    assert code == 2 and "abc" in err
    code, _, err = run(capsys, "simulate", MAIN, "--at", "yesterday")
    assert code == 2
    code, _, err = run(capsys, "simulate", MAIN, "--var", "novalue")
    assert code == 2 and "NAME=VALUE" in err
    broken = tmp_path / "b.json"
    broken.write_text('{"schema_version": 1, "id": "b", "name": "b", "nodes": {}}', "utf-8")
    code, _, err = run(capsys, "simulate", str(broken))
    assert code == 1 and "schema.minProperties" in err


def test_simulate_interactive(monkeypatch, capsys):
    answers = iter(["4", "", "h"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code, out, _ = run(capsys, "simulate", MAIN, "-i", "--at", "2026-10-09 10:00")
    assert code == 0
    assert "▶ 缴存政策请按1" in out  # heard live
    assert "按键 “4 - h”" in out


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"]])
def test_console_script_runs(argv):
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "ivrflow" in done.stdout
