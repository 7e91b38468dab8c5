"""Reading flow documents: every kind of bad input gets a located, bilingual problem."""

from __future__ import annotations

import pytest

from runtime.document import MAX_FLOW_BYTES, UnusableFlow, load_flow_bytes, load_flow_file


def unusable(raw: bytes):
    with pytest.raises(UnusableFlow) as info:
        load_flow_bytes(raw)
    problem = info.value.problem
    assert problem.message_zh and problem.message_en
    return problem


def test_malformed_json_reports_line_and_column():
    problem = unusable(b'{\n  "id": "x",\n  "name": oops\n}')
    assert problem.code == "json.syntax"
    assert (problem.line, problem.column) == (3, 11)
    assert "第 3 行第 11 列" in problem.message_zh


def test_non_utf8_bytes_report_where():
    problem = unusable(b'{\n "name": "\xff\xfe"\n}')
    assert problem.code == "json.encoding"
    assert problem.line == 2
    assert "0xff" in problem.message_en


def test_too_large_is_refused_before_parsing():
    problem = unusable(b" " * (MAX_FLOW_BYTES + 1))
    assert problem.code == "flow.too_large"


def test_ten_megabyte_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b"0," * (5 * 1024 * 1024) + b"0]")
    with pytest.raises(UnusableFlow) as info:
        load_flow_file(path)
    assert info.value.problem.code == "flow.too_large"
    assert f"{path.stat().st_size:,}" in info.value.problem.message_en


def test_deep_nesting_is_refused():
    problem = unusable(b"[" * 100_000 + b"]" * 100_000)
    assert problem.code == "json.too_deep"


def test_deep_nesting_inside_strings_is_fine():
    text = '{"a": "' + "[" * 200 + '"}'
    assert load_flow_bytes(text.encode()).data == {"a": "[" * 200}


def test_empty_and_missing_files(tmp_path):
    assert unusable(b"  \n").code == "json.empty"
    with pytest.raises(UnusableFlow) as info:
        load_flow_file(tmp_path / "nope.json")
    assert info.value.problem.code == "file.unreadable"


def test_bom_is_accepted():
    assert load_flow_bytes(b'\xef\xbb\xbf{"a": 1}').data == {"a": 1}


def test_duplicate_keys_are_found_with_lines():
    text = b'{\n "nodes": {\n  "a": {"type": "x"},\n  "a": {"type": "y"}\n }\n}'
    source = load_flow_bytes(text)
    [problem] = source.problems
    assert problem.code == "json.duplicate_key"
    assert "3, 4" in problem.message_en
    assert problem.line == 4


def test_locate_maps_pointers_to_lines():
    source = load_flow_bytes(b'{\n "nodes": {\n  "a": {\n   "type": "x"\n  }\n }\n}')
    assert source.locate("/nodes/a/type") == (4, 4)
    assert source.locate("/nodes/a/missing") == (3, 3)
