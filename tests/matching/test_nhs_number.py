from __future__ import annotations

import pytest

from matching.nhs_number import (
    check,
    clean,
    format_nhs_number,
    generate_check_digit,
    is_test_range,
    is_valid,
    normalise_verification_status,
)


@pytest.mark.parametrize(
    ("raw", "valid", "reason"),
    [
        pytest.param("9434765919", True, None, id="wikipedia-worked-example"),
        pytest.param("9000000009", True, None, id="pds-sandbox-normal"),
        pytest.param("9000000025", True, None, id="pds-sandbox-restricted"),
        pytest.param("9449305552", True, None, id="nw-genomics-example"),
        pytest.param("9990000018", True, None, id="test-range"),
        pytest.param("943 476 5919", True, None, id="spaces"),
        pytest.param("943-476-5919", True, None, id="dashes"),
        pytest.param(" 943 476-5919 ", True, None, id="mixed-separators"),
        pytest.param("9876544321", False, "check digit should be 2, not 1", id="format-example"),
        pytest.param("9000000000", False, "check digit should be 9, not 0", id="pds-invalid"),
        pytest.param("9991234560", False, "check digit would be 10, so never issued", id="ten"),
        pytest.param("1111111111", False, "all digits are the same", id="all-ones"),
        pytest.param("0000000000", False, "all digits are the same", id="all-zeros"),
        pytest.param("943476591", False, "must be 10 digits", id="nine-digits"),
        pytest.param("94347659190", False, "must be 10 digits", id="eleven-digits"),
        pytest.param("94347659l9", False, "must be 10 digits", id="letter"),
        pytest.param("", False, "missing", id="empty"),
        pytest.param(None, False, "missing", id="none"),
    ],
)
def test_check(raw: str | None, valid: bool, reason: str | None) -> None:
    result = check(raw)
    assert (result.is_valid, result.reason) == (valid, reason)
    assert is_valid(raw) is valid


@pytest.mark.parametrize("digit", "0123456789")
def test_every_all_same_digit_number_is_refused(digit: str) -> None:
    assert not is_valid(digit * 10)


def test_clean_strips_spaces_and_dashes() -> None:
    assert clean(" 943-476 5919\t") == "9434765919"
    assert clean(None) == ""


@pytest.mark.parametrize(
    ("nine", "expected"),
    [
        pytest.param("943476591", 9, id="worked-example"),
        pytest.param("999000001", 8, id="test-range"),
        pytest.param("999123456", None, id="check-would-be-ten"),
        pytest.param("99912345", None, id="too-short"),
        pytest.param("99912345x", None, id="not-digits"),
    ],
)
def test_generate_check_digit(nine: str, expected: int | None) -> None:
    assert generate_check_digit(nine) == expected


def test_generated_numbers_are_valid() -> None:
    made = 0
    for n in range(200):
        nine = f"999{n * 4999:06d}"
        digit = generate_check_digit(nine)
        if digit is not None:
            assert is_valid(nine + str(digit))
            made += 1
    assert made > 150


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("9990000018", True, id="test-range"),
        pytest.param("999 000 0018", True, id="spaced"),
        pytest.param("9434765919", False, id="issued-range"),
        pytest.param("999000001", False, id="too-short"),
        pytest.param(None, False, id="none"),
    ],
)
def test_is_test_range(raw: str | None, expected: bool) -> None:
    assert is_test_range(raw) is expected


def test_format_nhs_number() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"
    assert format_nhs_number("943-476-5919") == "943 476 5919"
    with pytest.raises(ValueError, match="10 digits"):
        format_nhs_number("94347659")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("01", "01", id="england-code"),
        pytest.param("1", "01", id="no-leading-zero"),
        pytest.param("08", "08", id="england-08"),
        pytest.param("8", "08", id="short-8"),
        pytest.param("number-present-and-verified", "01", id="retired-string-01"),
        pytest.param("number-present-but-not-traced", "02", id="retired-string-02"),
        pytest.param("trace-required", "03", id="retired-string-03"),
        pytest.param("trace-postponed", "08", id="retired-string-08-short"),
        pytest.param("Number present and verified", "01", id="display"),
        pytest.param("NUMBER-PRESENT-AND-VERIFIED", "01", id="upper-case"),
        pytest.param("09", None, id="unknown-code"),
        pytest.param("verified", None, id="unknown-string"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_normalise_verification_status(code: str | None, expected: str | None) -> None:
    assert normalise_verification_status(code) == expected
