"""Normalising caller numbers and the longest-prefix lookup."""

from __future__ import annotations

import pytest
from ivrflow_area.numbers import longest_prefix, normalise

TABLE = {"138": "mobile_cn", "1380013": "beijing", "010": "beijing", "0755": "shenzhen"}


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("13800138000", ("mobile", "13800138000")),
        ("+86 138-0013-8000", ("mobile", "13800138000")),
        ("008613800138000", ("mobile", "13800138000")),
        ("8613800138000", ("mobile", "13800138000")),
        ("075583210000", ("landline", "075583210000")),
        ("(010) 6512-3456", ("landline", "01065123456")),
        ("+8675583210000", ("landline", "075583210000")),
        ("83210000", ("local", "83210000")),
        ("", None),
        (None, None),
        ("anonymous", None),
        ("+14155550100", None),
        ("12329", None),
        ("0755", None),
    ],
)
def test_normalise(number, expected):
    assert normalise(number) == expected


@pytest.mark.parametrize(
    ("number", "prefix", "region"),
    [
        ("13800138000", "1380013", "beijing"),  # the longest prefix wins
        ("13812345678", "138", "mobile_cn"),
        ("075583210000", "0755", "shenzhen"),
        ("01065123456", "010", "beijing"),
        ("02787654321", "", ""),  # not in the table
        ("13912345678", "", ""),
    ],
)
def test_longest_prefix(number, prefix, region):
    match = longest_prefix(number, TABLE)
    assert (match.prefix, match.region) == (prefix, region)


def test_local_numbers_and_unusable_ones():
    assert longest_prefix("83210000", TABLE, "shenzhen").region == "shenzhen"
    assert longest_prefix("83210000", TABLE).kind == "local"
    assert longest_prefix("anonymous", TABLE).kind is None
