"""Phone numbers and e-mail addresses are found however they are typed, and junk is refused."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.contacts import normalize_email, normalize_phone

LYON_OFFICE = "+33472000000"


@pytest.mark.parametrize(
    "spelling",
    [
        "+33472000000",
        "+33 4 72 00 00 00",
        "+33 (0)4 72 00 00 00",
        "+33 (0)4-72-00-00-00",
        "+33.4.72.00.00.00",
        "+33-472-000-000",
        "0033 4 72 00 00 00",
        "0033472000000",
        "  +33 4 72 00 00 00  ",
        "+33\t4 72 00 00 00",
    ],
)
def test_spellings_of_one_international_number_are_the_same_line(spelling: str) -> None:
    assert normalize_phone(spelling) == LYON_OFFICE


def test_a_national_number_keeps_its_digits() -> None:
    assert normalize_phone("04 72 00 00 00") == "0472000000"
    assert normalize_phone("04.72.00.00.00") == normalize_phone("04-72-00-00-00") == "0472000000"


def test_different_numbers_stay_different() -> None:
    assert normalize_phone("+33 4 72 00 00 01") != normalize_phone("+33 4 72 00 00 00")


@pytest.mark.parametrize(
    "junk",
    ["", "   ", "+", "n/a", "call me maybe", "12", "12345", "+1234", "0012345", "1" * 16, "+" + "9" * 16],
)
def test_junk_phone_numbers_are_rejected(junk: str) -> None:
    assert normalize_phone(junk) is None


separators = st.sampled_from([" ", ".", "-", "", "  ", " - "])


@given(
    country=st.sampled_from(["33", "44", "1", "49", "351"]),
    groups=st.lists(st.text("0123456789", min_size=1, max_size=3), min_size=3, max_size=5),
    sep=separators,
    prefix=st.sampled_from(["+", "00", "+ "]),
)
def test_any_separators_and_international_prefix_give_one_normal_form(
    country: str, groups: list[str], sep: str, prefix: str
) -> None:
    digits = country + "".join(groups)
    assume(6 <= len(digits) <= 15)
    typed = prefix + country + sep + sep.join(groups)
    assert normalize_phone(typed) == "+" + digits


@pytest.mark.parametrize(
    "spelling",
    ["jane.doe@example.com", "Jane.Doe@Example.com", "JANE.DOE@EXAMPLE.COM", "  jane.doe@example.com\n"],
)
def test_an_email_in_any_case_or_padding_is_the_same_address(spelling: str) -> None:
    assert normalize_email(spelling) == "jane.doe@example.com"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "jane",
        "jane@",
        "@example.com",
        "jane@example",
        "jane doe@example.com",
        "jane@@example.com",
        "jane@exa mple.com",
        "jane.example.com",
    ],
)
def test_junk_email_addresses_are_rejected(junk: str) -> None:
    assert normalize_email(junk) is None
