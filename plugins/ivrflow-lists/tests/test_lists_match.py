"""Numbers and entries: normalisation, the match kinds, safe patterns and specificity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ivrflow_lists.match import Entry, best_match, check_value, matches, normalise

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("13912345678", "13912345678"),
        ("+86 139-1234-5678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("010-8888 1234", "01088881234"),
        ("(0571) 8700.1234", "057187001234"),
        ("", None),
        (None, None),
        ("anonymous", None),
        ("Unknown", None),
        ("139abc45678", None),
        ("+86", None),
        ("1" * 21, None),
    ],
)
def test_normalise(raw, number):
    assert normalise(raw) == number


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("exact", "+86 139 1234 5678", "13912345678"),
        ("prefix", "170", "170"),
        ("prefix", "0086-171", "171"),
        ("pattern", "139????5678", "139????5678"),
        ("pattern", "+86 1??0*", "1??0*"),
    ],
)
def test_valid_values_are_stored_normalised(kind, value, stored):
    assert check_value(kind, value) == (stored, None)


@pytest.mark.parametrize(
    ("kind", "value", "code", "where"),
    [
        ("exact", "", "lists.value_number", ""),
        ("exact", "12", "lists.value_number", ""),
        ("exact", "139abc", "lists.value_number", "character 4"),
        ("prefix", "1x", "lists.value_number", "character 2"),
        ("pattern", "", "lists.value_empty", ""),
        ("pattern", "13[0-9]*", "lists.pattern_char", "character 3"),
        ("pattern", "^139.*$", "lists.pattern_char", "character 1"),
        ("pattern", "1*9", "lists.pattern_star", "character 2"),
        ("pattern", "???*", "lists.pattern_broad", ""),
        ("pattern", "1" * 21, "lists.value_length", ""),
        ("regex", "139", "lists.kind", ""),
    ],
)
def test_invalid_values_are_located(kind, value, code, where):
    _, issue = check_value(kind, value)
    assert issue is not None and issue.code == code
    assert issue.pointer == ("/kind" if code == "lists.kind" else "/value")
    assert where in issue.message_en and issue.message_zh


@pytest.mark.parametrize(
    ("kind", "value", "number", "hit"),
    [
        ("exact", "13912345678", "13912345678", True),
        ("exact", "13912345678", "139123456789", False),
        ("prefix", "170", "17012345678", True),
        ("prefix", "170", "1701", True),
        ("prefix", "170", "1710", False),
        ("pattern", "139????5678", "13900005678", True),
        ("pattern", "139????5678", "1390000567", False),
        ("pattern", "139????5678", "139000056789", False),
        ("pattern", "1??0*", "1230", True),
        ("pattern", "1??0*", "12304567", True),
        ("pattern", "1??0*", "123", False),
        ("pattern", "1??0*", "12314567", False),
    ],
)
def test_matches(kind, value, number, hit):
    assert matches(kind, value, number) is hit


def _entry(entry_id, kind, value, **kw):
    return Entry(entry_id, "block", kind, value, **kw)


def test_most_specific_wins_exact_then_longest_prefix_then_pattern():
    entries = [
        _entry(1, "pattern", "139????5678"),
        _entry(2, "prefix", "139"),
        _entry(3, "prefix", "1391234"),
        _entry(4, "exact", "13912345678"),
        _entry(5, "pattern", "1391234567?"),
    ]
    assert best_match(entries, "13912345678", NOW).id == 4
    assert best_match(entries[:4][:3], "13912345678", NOW).id == 3
    assert best_match([entries[0], entries[4]], "13912345678", NOW).id == 5  # more digits
    assert best_match(entries, "13800000000", NOW) is None


def test_expired_entries_are_ignored():
    entries = [
        _entry(1, "exact", "13912345678", expires_at=NOW - timedelta(seconds=1)),
        _entry(2, "prefix", "139", expires_at=NOW + timedelta(days=1)),
    ]
    assert best_match(entries, "13912345678", NOW).id == 2
    assert best_match(entries, "13912345678", NOW + timedelta(days=2)) is None
