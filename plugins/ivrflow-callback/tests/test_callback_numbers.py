"""Which numbers can be called back: PRC mobiles, landlines with and without area code,
+86/0086 and the trunk 0 stripped; everything else refused with a reason; masking."""

from __future__ import annotations

import pytest
from ivrflow_callback.numbers import callback_number, mask, mask_digits


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("13912345678", "13912345678"),
        ("+86 139-1234-5678", "13912345678"),
        ("008619912345678", "19912345678"),
        ("013912345678", "13912345678"),  # a mobile from another province, with the trunk 0
        ("01088881234", "01088881234"),  # Beijing
        ("(020) 8888-1234", "02088881234"),  # Guangzhou
        ("057188881234", "057188881234"),  # Hangzhou, 8-digit local number
        ("08518881234", "08518881234"),  # 4-digit area code, 7-digit local number
        ("+86 10 8888 1234", "01088881234"),  # international form: the trunk 0 is back
        ("0086 571 8888 1234", "057188881234"),
        ("88881234", "88881234"),  # local, 8 digits
        ("8888123", "8888123"),  # local, 7 digits
    ],
)
def test_numbers_that_can_be_called_back(raw, digits):
    found, why = callback_number(raw)
    assert found == digits
    assert why == ("" if digits else "length")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        (None, "empty"),
        ("   ", "empty"),
        ("anonymous", "withheld"),
        ("Anonymous", "withheld"),
        ("unknown", "withheld"),
        ("private", "withheld"),
        ("139abc45678", "not_digits"),
        ("abc", "not_digits"),
        ("１３９１２３４５６７８", "not_digits"),  # full-width digits
        ("1391234567", "length"),  # 10 digits
        ("139123456789", "length"),  # 12 digits
        ("12345678901", "length"),  # 12x is not a mobile segment
        ("95533", "length"),  # a bank's service number
        ("4008001234", "length"),
        ("12329", "length"),
        ("01012345678", "length"),  # a local number does not start with 1
        ("0108888123", "length"),  # Beijing needs 8 digits
        ("08888123", "length"),  # a local number does not start with 0
        ("1234567", "length"),
        ("86" + "13912345678", "length"),  # a bare 86 is not stripped
    ],
)
def test_numbers_that_cannot(raw, why):
    assert callback_number(raw) == (None, why)


def test_masking_keeps_the_last_four_digits():
    assert mask("13912345678") == "*******5678"
    assert mask("1234") == "****"
    assert mask("") == ""
    assert mask(None) == ""
    assert mask_digits("Key (phone)=(13912345678) exists; 42 rows") == (
        "Key (phone)=(*******5678) exists; 42 rows"
    )
