"""scrub: the identifiers that hid from it (dots, double spaces, invisible characters, full-width digits, a typo in
an NHS number) are caught, and what only looks like one (doses, tickets, dates, beds) is left exactly as written.

NHS numbers below were checked by hand with the modulus-11 rule (weights 10..2 on the first nine digits,
check = 11 - (sum mod 11), 11 means 0, 10 means invalid); the sums are in the comments. Phone numbers are from
Ofcom's ranges for drama (07700 900xxx, 020 7946 0xxx, 0113 496 0xxx), which are never anyone's.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.privacy import is_valid_nhs_number, normalise, scrub

# 9*10 + 4*9 + 3*8 + 4*7 + 7*6 + 6*5 + 5*4 + 9*3 + 1*2 = 299; 299 mod 11 = 2 -> check digit 9.
VALID_NHS = "9434765919"
# The same with the last digit mistyped: what a typo of a real number looks like.
TYPO_NHS = "9434765918"
# 9*10 + 9*9 + 9*8 + 1*2 = 245; 245 mod 11 = 3 -> check digit 8. In the range kept for test patients.
VALID_TEST_RANGE = "9990000018"
# 5*10 = 50; 50 mod 11 = 6 -> check digit 5. Valid check digit, but 5xx xxx xxxx is never issued.
VALID_CHECK_RESERVED = "5000000005"
# 8*10 + 6*9 = 134; 134 mod 11 = 2 -> check digit 9. Valid check digit, but 86x xxx xxxx is unallocated.
VALID_CHECK_UNALLOCATED = "8600000009"
# 3*10 + 1*8 + 3*7 = 59; 59 mod 11 = 4 -> check digit 7. Scotland's CHI range, where the first six digits are a
# date of birth (DDMMYY): 30/13/00 is no date.
VALID_CHECK_NOT_A_CHI_DATE = "3013000007"

ZWSP, WORD_JOINER, ZWJ, BOM, SOFT_HYPHEN, NBSP = "\u200b", "\u2060", "\u200d", "\ufeff", "\u00ad", "\u00a0"
# The Halfwidth and Fullwidth Forms block mirrors printable ASCII 0x21-0x7E at U+FF01-U+FF5E: "７" is "7" + 0xFEE0.
FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in string.digits + string.ascii_uppercase + "@"})


def test_given_the_numbers_used_below_when_checked_then_their_check_digits_are_as_the_comments_say() -> None:
    assert is_valid_nhs_number(VALID_NHS) and is_valid_nhs_number(VALID_TEST_RANGE)
    assert not is_valid_nhs_number(TYPO_NHS)
    for number in (VALID_CHECK_RESERVED, VALID_CHECK_UNALLOCATED, VALID_CHECK_NOT_A_CHI_DATE):
        assert is_valid_nhs_number(number), number


# ------------------------------------------------------------------------------------------------ NHS numbers

@pytest.mark.parametrize("number", [
    "943.476.5919", "943  476  5919", "943 - 476 - 5919", "943\u2013476\u20135919", f"943{NBSP}476{NBSP}5919",
    "943 476-5919", "999.000.0018",
], ids=["dotted", "double-spaced", "spaced-dashes", "en-dashes", "no-break-spaces", "mixed", "test-range-dotted"])
def test_given_nhs_number_grouped_3_3_4_any_way_when_scrubbed_then_replaced(number: str) -> None:
    assert scrub(f"Patient {number} had the wrong chart.") == "Patient [NHS_NUMBER] had the wrong chart."


@pytest.mark.parametrize("number", ["943 476 5918", "943-476-5918", "943.476.5918", "943  476  5918"])
def test_given_grouped_nhs_number_with_a_typo_when_scrubbed_then_replaced_though_the_check_digit_fails(
        number: str) -> None:
    assert scrub(f"Patient {number} had the wrong chart.") == "Patient [NHS_NUMBER] had the wrong chart."


@pytest.mark.parametrize("text", [
    f"NHS no. {TYPO_NHS} not found", f"NHS number: {TYPO_NHS} not found", f"nhs {TYPO_NHS} not found",
    f"NHS number is {TYPO_NHS} not found",
])
def test_given_ungrouped_number_with_a_typo_right_after_nhs_when_scrubbed_then_replaced(text: str) -> None:
    assert TYPO_NHS not in scrub(text)
    assert "[NHS_NUMBER]" in scrub(text)


def test_given_ungrouped_number_with_a_typo_and_no_nhs_before_it_when_scrubbed_then_kept_as_an_order_number() -> None:
    assert scrub(f"Order {TYPO_NHS} is late") == f"Order {TYPO_NHS} is late"


def test_given_nhs_mentioned_far_before_an_ungrouped_typo_when_scrubbed_then_kept() -> None:
    text = f"The NHS app crashed twice this week and order {TYPO_NHS} is late"

    assert scrub(text) == text


@pytest.mark.parametrize("number", [VALID_NHS, VALID_TEST_RANGE])
def test_given_ungrouped_valid_nhs_number_when_scrubbed_then_replaced(number: str) -> None:
    assert scrub(f"Patient {number} again") == "Patient [NHS_NUMBER] again"


@pytest.mark.parametrize("number", [VALID_CHECK_RESERVED, VALID_CHECK_UNALLOCATED, VALID_CHECK_NOT_A_CHI_DATE],
                         ids=["reserved-range", "unallocated-range", "chi-range-without-a-date"])
def test_given_ungrouped_number_whose_check_digit_passes_outside_issued_numbers_when_scrubbed_then_kept(
        number: str) -> None:
    assert scrub(f"Purchase order {number} arrived") == f"Purchase order {number} arrived"


def test_given_the_same_unissued_number_grouped_when_scrubbed_then_replaced() -> None:
    assert scrub("Patient 500 000 0005 again") == "Patient [NHS_NUMBER] again"


# ---------------------------------------------------------------------------------------------- phone numbers

@pytest.mark.parametrize("phone", [
    "07700.900.468", "07700  900  468", "07700-900-468", "0113.496.0000", "+44 7700.900.468", "+44.7700.900468",
    "0044 7700 900468", "(0113) 496 0000", "+44 (0)113 496 0000", "020 7946 0018",
], ids=["dotted", "double-spaced", "dashed", "landline-dotted", "plus44-dotted", "plus44-dot-after-code", "0044",
        "bracketed", "plus44-bracketed-0", "london"])
def test_given_phone_number_grouped_any_way_when_scrubbed_then_replaced(phone: str) -> None:
    assert scrub(f"Ring {phone} tonight") == "Ring [PHONE] tonight"


def test_given_ten_digits_starting_00_when_scrubbed_then_kept_as_a_reference() -> None:
    assert scrub("Case 00123456789 was closed") == "Case 00123456789 was closed"


# ------------------------------------------------------------------------------------ Unicode normalisation

@pytest.mark.parametrize("phone", [
    f"07700{ZWSP}900468", f"0{WORD_JOINER}7700 900468", f"077{ZWJ}00 900{BOM}468", f"07700{SOFT_HYPHEN}900468",
    "07700 900468".translate(FULL_WIDTH), f"07700{NBSP}900468",
], ids=["zero-width-space", "word-joiner", "joiner-and-bom", "soft-hyphen", "full-width", "no-break-space"])
def test_given_phone_number_with_invisible_or_full_width_characters_when_scrubbed_then_replaced(phone: str) -> None:
    assert scrub(f"Ring {phone} tonight") == "Ring [PHONE] tonight"


@pytest.mark.parametrize("email", [
    f"jane.doe@nhs{ZWSP}.net", f"jane.doe@n{ZWSP}hs.net", f"jane.doe@nhs.n{BOM}et", f"jane{ZWSP}.doe@nhs.net",
    "jane.doe＠nhs.net", f"jane.doe@nhs{SOFT_HYPHEN}.net",
], ids=["zero-width-before-dot", "zero-width-in-domain", "bom-in-tld", "zero-width-in-local-part",
        "full-width-at", "soft-hyphen"])
def test_given_email_with_invisible_or_full_width_characters_when_scrubbed_then_replaced(email: str) -> None:
    assert scrub(f"Write to {email} please") == "Write to [EMAIL] please"


@pytest.mark.parametrize("number", [
    "943 476 5919".translate(FULL_WIDTH), f"943{ZWSP}476{ZWSP}5919", f"9434{WORD_JOINER}765919",
])
def test_given_nhs_number_with_invisible_or_full_width_digits_when_scrubbed_then_replaced(number: str) -> None:
    assert scrub(f"Patient {number} again") == "Patient [NHS_NUMBER] again"


@pytest.mark.parametrize("postcode", [
    "LS1  4AP", f"LS1{ZWSP}4AP", f"L{ZWSP}S1 4AP", "LS1 4AP".translate(FULL_WIDTH), f"LS1{NBSP}4AP",
])
def test_given_postcode_with_extra_space_invisible_or_full_width_characters_when_scrubbed_then_replaced(
        postcode: str) -> None:
    assert scrub(f"Clinic at {postcode} today") == "Clinic at [POSTCODE] today"


@pytest.mark.parametrize("text", [
    "The EPR’s ‘sign all’ button doesn’t work",  # curly quotes, as phones and Word type them
    "Great support from the floor walkers 👩\u200d⚕️👍",  # an emoji joined by a zero-width joiner
    "ＥＰＲ is slow on ward 7",  # full-width letters, no identifier
    "Soft\u00adhyphen and a zero\u200bwidth space",
    "37.5°C at 07:30, ½ tablet",
])
def test_given_non_ascii_text_without_identifiers_when_scrubbed_then_returned_exactly_as_given(text: str) -> None:
    assert scrub(text) == text


def test_given_non_ascii_text_with_an_identifier_when_scrubbed_then_returned_normalised() -> None:
    # What was matched is what is stored: the full-width letters become ASCII along with the number.
    assert scrub("ＥＰＲ help: ring 07700\u200b900468") == "EPR help: ring [PHONE]"


def test_given_invisible_characters_and_unicode_dashes_when_normalised_then_removed_and_made_hyphens() -> None:
    assert normalise(f"a{ZWSP}b{SOFT_HYPHEN}c{BOM}d\u2013e\u2212f１") == "abcd-e-f1"


# -------------------------------------------------------------------------------------------------- postcodes

@pytest.mark.parametrize("postcode", ["B15 2TH", "B33 8TH", "CB2 0QQ", "EC1A 7BE"])
def test_given_postcode_whose_inward_code_reads_like_an_ordinal_in_capitals_when_scrubbed_then_replaced(
        postcode: str) -> None:
    assert scrub(f"Clinic at {postcode} today") == "Clinic at [POSTCODE] today"


# -------------------------------------------------------------------------------------------- look-alikes

@pytest.mark.parametrize("text", [
    "500 mg", "0.5 ml", "2.5mg/kg", "x2 5mg", "5 ml TDS", "1,000 units",  # doses
    "INC0012345", "RITM0001234", "INC0012345678", "SCTASK0012345", "case 00123456",  # tickets
    "2026-03-04", "04/03/2026", "04.03.2026", "04-03-2026", "04.03.2026 07:30", "04-03-2026 0800",  # dates
    "2026-03-04T07:30", "03/04/2026 19:00",
    "07:30", "0730-1930", "19:00-07:30",  # times
    "Bed 12", "Bay 3 Bed 4", "bed 4B", "side room 2",  # beds
    "Ward 7A", "WARD-7", "AMU2", "Ward C3",  # wards
    "v10.2.1", "build 4.2.0.1234", "Chrome 122.0.6261.112",  # versions
    "£1,234.56", "£3,400,000", "£1.2m",  # money
    "120/80 mmHg", "37.5°C", "SpO2 98%", "5.6 mmol/L",  # observations
    "Room G12 1st floor", "Ward B4 3rd floor", "G3 4th floor",  # rooms with ordinals
    "NHS 111", "bleep 4455", "ext 12345", "@jane in Teams", "SNOMED 271649006",
    "2026-11-03T09:14:05.055199123Z", "error id 0123456789abcdef",  # a pasted log line, a hex id
])
def test_given_innocent_look_alike_when_scrubbed_then_unchanged(text: str) -> None:
    sentence = f"Noted: {text}, see above."

    assert scrub(sentence) == sentence


# ------------------------------------------------------------------------------------------------- properties

_GROUP_SEPARATORS = st.sampled_from([" ", "  ", ".", "-", " - ", " . ", "\u2013", NBSP])
_INVISIBLE = st.sampled_from([ZWSP, WORD_JOINER, ZWJ, BOM, SOFT_HYPHEN])
_PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                              suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY_SETTINGS
@given(st.from_regex(r"[1-9][0-9]{9}", fullmatch=True), _GROUP_SEPARATORS, _GROUP_SEPARATORS)
def test_given_any_ten_digits_grouped_3_3_4_when_scrubbed_then_no_digit_is_left(
        digits: str, first: str, second: str) -> None:
    text = f"Patient {digits[:3]}{first}{digits[3:6]}{second}{digits[6:]} had the wrong chart."

    assert re.search(r"\d", scrub(text) or "") is None


@_PROPERTY_SETTINGS
@given(st.from_regex(r"[0-9]{3}", fullmatch=True),
       st.sampled_from([("07700", "900"), ("0113", "496"), ("020", "7946")]),
       _GROUP_SEPARATORS, _GROUP_SEPARATORS, _INVISIBLE, st.integers(1, 8))
def test_given_drama_phone_number_grouped_and_laced_with_an_invisible_character_when_scrubbed_then_no_digit_is_left(
        last: str, groups: tuple[str, str], first: str, second: str, invisible: str, at: int) -> None:
    area, exchange = groups
    number = f"{area}{first}{exchange}{second}0{last}" if area != "07700" else f"{area}{first}{exchange}{second}{last}"
    digits_seen = 0
    for i, char in enumerate(number):  # the invisible character goes after the at-th digit
        digits_seen += char.isdigit()
        if digits_seen == at:
            number = number[:i + 1] + invisible + number[i + 1:]
            break

    assert re.search(r"\d", scrub(f"Ring {number} tonight") or "") is None


@_PROPERTY_SETTINGS
@given(st.dates(), st.times(), st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d.%m.%y",
                                                "%d %B %Y"]),
       st.sampled_from(["", " %H:%M", " %H%M", "T%H:%M", " %H:%M:%S"]))
def test_given_any_date_and_time_written_any_usual_way_when_scrubbed_then_unchanged(
        day: object, moment: object, date_format: str, time_format: str) -> None:
    from datetime import datetime

    stamp = datetime.combine(day, moment).strftime(date_format + time_format)  # type: ignore[arg-type]
    text = f"Due on {stamp} as agreed"

    assert scrub(text) == text


@_PROPERTY_SETTINGS
@given(st.sampled_from(["{a}.{b} mg", "{a} mg", "{a}.{b}ml", "Bed {a}", "Bay {a} Bed {b}", "£{a},{c}.{b}",
                        "v{a}.{b}.{c}", "INC{a:07d}", "RITM{c:07d}", "{a}:{b:02d}", "{a}/{b} mmHg", "ward {a}"]),
       st.integers(0, 999), st.integers(0, 99), st.integers(0, 9999))
def test_given_doses_beds_money_versions_tickets_times_when_scrubbed_then_unchanged(
        template: str, a: int, b: int, c: int) -> None:
    text = "Noted " + template.format(a=a, b=b, c=c) + " today"

    assert scrub(text) == text
