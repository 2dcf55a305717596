"""The interview engine and the terminal interview (issue #4, "Interviews").

The engine is driven directly with scripted answers over the shipped escapee-interview
form; the terminal is driven as a person would, through a real pseudo-terminal, in both
languages. Every name and answer here is synthetic.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import pty
import random
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.interview import (
    Interview,
    Question,
    answers_from_file,
    path_str,
    run_terminal,
)
from schemas.errors import ResponseInvalid
from schemas.forms import shipped_form
from schemas.survey import Validator, load_form
from schemas.survey.synth import synthesize

ROOT = Path(__file__).resolve().parents[2]
FORM = shipped_form("escapee-interview")
VALIDATOR = Validator(FORM)


def drive(iv: Interview, script: dict[str, str | list[str]], limit: int = 400) -> list[str]:
    """Answer every question from ``script`` (question name → typed text, a list for the
    entries of a repeat; ``+repeat`` answers "add another?"). Questions not in the script
    get an empty line. Returns the names asked, in order."""
    queues = {k: list(v) if isinstance(v, list) else [v] for k, v in script.items()}
    asked: list[str] = []
    while (q := iv.current()) is not None:
        key = q.name if q.kind == "question" else f"+{q.name}"
        queue = queues.get(key)
        text = queue.pop(0) if queue else ""
        asked.append(key)
        refusal = iv.answer(text)
        assert refusal is None, (q.path, text, refusal)
        assert len(asked) < limit
    leftover = {k: v for k, v in queues.items() if v}
    assert leftover == {}, f"never asked: {leftover}"
    return asked


KO_SCRIPT: dict[str, str | list[str]] = {
    "consent": "1",
    "interview_date": "2024-05-01",
    "interviewer_code": "AB012",
    "respondent_name": "김영철",
    "sex": "2",
    "birth_year": "1980",
    "province_of_origin": "1",
    "departure_year": "2019",
    "departure_route": "1",
    "crossing_province": "2",
    "arrival_year": "2023",
    "years_in_third_country": "3",
    "occupation": "1",
    "meals_per_day": "2",
    "grain_kg_per_month": "12.5",
    "food_sources": "2 3",
    "market_trading": "예",
    "market_suppression": "아니오",
    "needed_care": "네",
    "care_payment_frequency": "2",
    "care_payment_kinds": "1 2",
    "went_without_care": "예",
    "school_attended": "예",
    "education_level": "3",
    "farm_mobilisation": "3",
    "mobilisation_weeks": "4",
    "assigned_work": "아니요",
    "dolgyeokdae_service": "아니오",
    "was_detained": "예",
    "facility_type": ["4", "3"],
    "detention_year": ["2010", "2015"],
    "duration_months": ["3", "6"],
    "treatment": ["1 2", ""],
    "detention_notes": ["합성 응답: 조사 중에 오래 앉아 있게 했습니다", ""],
    "+detention": ["예", "아니요"],
    "ever_repatriated": "아니오",
    "lived_near_border": "예",
    "border_measures": "1 5",
    "household_disability": "3",
    "paid_bribes": "아니요",
    "share_consent": "1",
    "closing_notes": "합성 면담 기록입니다",
}

KO_ANSWERS: dict[str, Any] = {
    "consent": "yes",
    "interview_date": "2024-05-01",
    "interviewer_code": "AB012",
    "respondent_name": "김영철",
    "sex": "male",
    "birth_year": 1980,
    "province_of_origin": "north_hamgyong",
    "departure_year": 2019,
    "departure_route": "land_china",
    "crossing_province": "ryanggang",
    "arrival_year": 2023,
    "years_in_third_country": 3,
    "occupation": "farm",
    "meals_per_day": 2,
    "grain_kg_per_month": 12.5,
    "food_sources": ["market", "own_plot"],
    "market_trading": True,
    "market_suppression": False,
    "needed_care": True,
    "care_payment_frequency": "often",
    "care_payment_kinds": ["cash", "goods"],
    "went_without_care": True,
    "school_attended": True,
    "education_level": "upper_middle",
    "farm_mobilisation": "twice_a_year",
    "mobilisation_weeks": 4,
    "assigned_work": False,
    "dolgyeokdae_service": False,
    "was_detained": True,
    "detention": [
        {
            "facility_type": "kuryujang",
            "detention_year": 2010,
            "duration_months": 3,
            "treatment": ["beatings", "still_sitting"],
            "detention_notes": "합성 응답: 조사 중에 오래 앉아 있게 했습니다",
        },
        {"facility_type": "rodong_dallyeondae", "detention_year": 2015, "duration_months": 6},
    ],
    "ever_repatriated": False,
    "lived_near_border": True,
    "border_measures": ["river_ban", "patrols"],
    "household_disability": ["none"],
    "paid_bribes": False,
    "share_consent": "anonymised_reports",
    "closing_notes": "합성 면담 기록입니다",
}

EN_SCRIPT: dict[str, str | list[str]] = {
    "consent": "yes",
    "interview_date": "2024-06-15",
    "interviewer_code": "CD345",
    "respondent_name": "박순희",
    "sex": "female",
    "birth_year": "1975",
    "province_of_origin": "ryanggang",
    "departure_year": "2021",
    "departure_route": "land_russia",
    "crossing_province": "2",
    "meals_per_day": "3",
    "covid_effects": "food_shortage price_rise",
    "needed_care": "no",
    "menstrual_products": "reusable_cloth",
    "school_attended": "no",
    "assigned_work": "yes",
    "assigned_work_pay": "unpaid",
    "womens_union_mobilisation": "often",
    "dolgyeokdae_service": "n",
    "was_detained": "n",
    "ever_repatriated": "y",
    "repatriation_times": "2",
    "repatriated_from": "china",
    "repatriation_held_in": "jipkyulso kuryujang",
    "household_disability": "self",
    "disability_domains": "walking",
    "paid_bribes": "yes",
    "bribe_purposes": "1",
    "bribe_recipients": "1 7",
    "largest_bribe_cny": "500",
    "share_consent": "2",
}

EN_ANSWERS: dict[str, Any] = {
    "consent": "yes",
    "interview_date": "2024-06-15",
    "interviewer_code": "CD345",
    "respondent_name": "박순희",
    "sex": "female",
    "birth_year": 1975,
    "province_of_origin": "ryanggang",
    "departure_year": 2021,
    "departure_route": "land_russia",
    "crossing_province": "rason",
    "meals_per_day": 3,
    "covid_effects": ["food_shortage", "price_rise"],
    "needed_care": False,
    "menstrual_products": "reusable_cloth",
    "school_attended": False,
    "assigned_work": True,
    "assigned_work_pay": "unpaid",
    "womens_union_mobilisation": "often",
    "dolgyeokdae_service": False,
    "was_detained": False,
    "ever_repatriated": True,
    "repatriation_times": 2,
    "repatriated_from": ["china"],
    "repatriation_held_in": ["jipkyulso", "kuryujang"],
    "household_disability": ["self"],
    "disability_domains": ["walking"],
    "paid_bribes": True,
    "bribe_purposes": ["travel_permit"],
    "bribe_recipients": ["police", "guard"],
    "largest_bribe_cny": 500.0,
    "share_consent": "share_un_partners",
}


def start(answers: dict[str, Any] | None = None, lang: str = "ko") -> Interview:
    return Interview(FORM, answers, lang=lang)


def answer_all(iv: Interview, *texts: str) -> None:
    for text in texts:
        q = iv.current()
        assert q is not None
        assert iv.answer(text) is None, (q.path, text)


#: Answers to the required questions up to the detention section; the rest left blank.
BASICS = {
    "consent": "1", "interview_date": "2024-05-01", "interviewer_code": "AB012", "sex": "1",
    "birth_year": "1980", "province_of_origin": "1", "departure_year": "2019",
    "meals_per_day": "2", "needed_care": "n", "school_attended": "n", "assigned_work": "n",
}  # fmt: skip


def answer_until(iv: Interview, name: str) -> Question:
    """Answer from :data:`BASICS` (blank otherwise) until ``name`` is asked."""
    while (q := iv.current()) is not None and q.name != name:
        assert iv.answer(BASICS.get(q.name, "")) is None, q.path
    assert q is not None, f"{name} never asked"
    return q


# -- walking the whole form ------------------------------------------------------------------


def test_the_whole_form_in_korean() -> None:
    iv = start(lang="ko")
    q = iv.current()
    assert q is not None and q.path == ("consent",)
    assert q.label == "위 설명을 들으셨습니다. 면담에 참여하는 데 동의하십니까?"
    assert q.notes[0].startswith("이 면담은 북한의 인권 상황을 기록하기 위한 것입니다.")
    assert [o.label for o in q.options] == ["예, 동의합니다", "아니요, 동의하지 않습니다"]
    asked = drive(iv, KO_SCRIPT)
    assert iv.answers == KO_ANSWERS
    assert iv.finalize() == [] and VALIDATOR.validate(iv.answers) == []
    assert "covid_effects" not in asked  # left in 2019: not relevant
    assert "menstrual_products" not in asked
    assert asked.count("facility_type") == 2 and asked.count("+detention") == 2
    assert iv.end_notes() == [
        "면담을 마칩니다. 귀한 시간을 내어 경험을 들려주셔서 진심으로 감사드립니다."
    ]


def test_the_whole_form_in_english() -> None:
    iv = start(lang="en")
    q = iv.current()
    assert q is not None
    assert (
        q.label
        == "You have heard the explanation above. Do you agree to take part in the interview?"
    )
    answer_all(iv, "yes")
    q = iv.current()
    assert (
        q is not None
        and q.label == "Interview date"
        and q.section == "Session details (interviewer)"
    )
    asked = drive(iv, {k: v for k, v in EN_SCRIPT.items() if k != "consent"})
    assert iv.answers == EN_ANSWERS
    assert iv.finalize() == [] and VALIDATOR.validate(iv.answers) == []
    assert "detention" not in iv.answers and "+detention" not in asked
    assert "years_in_third_country" in asked  # optional: no arrival year given


def test_consent_refused_ends_the_interview_at_once() -> None:
    saved: list[dict[str, Any]] = []
    iv = Interview(FORM, lang="ko", on_change=saved.append)
    assert iv.answer("2") is None
    assert iv.current() is None
    assert iv.answers == {"consent": "no"} and saved == [{"consent": "no"}]
    assert iv.finalize() == []
    assert iv.end_notes()[0].startswith("면담을 여기서 마칩니다.")
    assert [e.shown for e in iv.review()] == ["아니요, 동의하지 않습니다"]


# -- typed answers, rules and messages ----------------------------------------------------------


def test_a_broken_constraint_is_asked_again_with_the_forms_bilingual_message() -> None:
    iv = start()
    answer_all(iv, "1", "2024-05-01", "AB012", "", "1", "1980", "1")
    q = iv.current()
    assert q is not None and q.name == "departure_year"
    refusal = iv.answer("1975")
    assert refusal is not None and refusal.code == "constraint"
    assert refusal.text == {
        "ko": "떠나신 해는 태어난 해보다 빠를 수 없습니다.",
        "en": "The year of leaving cannot be before the year of birth.",
    }
    assert refusal.message("en") == "The year of leaving cannot be before the year of birth."
    q2 = iv.current()
    assert q2 is not None and q2.name == "departure_year"  # asked again
    assert "departure_year" not in iv.answers
    assert iv.answer("2019") is None
    assert iv.answers["departure_year"] == 2019


@pytest.mark.parametrize(
    ("name", "typed", "code", "ko_start"),
    [
        ("interview_date", "2024-13-01", "date", "날짜를 YYYY-MM-DD"),
        ("interview_date", "1 May 2024", "date", "날짜를 YYYY-MM-DD"),
        ("interview_date", "2009-12-31", "constraint", "날짜를 확인해 주십시오."),
        ("interviewer_code", "ab012", "constraint", "영문 대문자 두 자와"),
        ("birth_year", "nineteen", "year", "1900년에서 2100년"),
        ("birth_year", "1800", "year", "1900년에서 2100년"),
        ("birth_year", "1915", "constraint", "태어난 해는 1920년에서"),
        ("sex", "3", "select_one", "목록에서 번호 하나를"),
        ("sex", "woman", "select_one", "목록에서 번호 하나를"),
        ("meals_per_day", "2.5", "integer", "정수로"),
        ("meals_per_day", "9", "constraint", "0에서 5 사이의"),
        ("grain_kg_per_month", "lots", "decimal", "숫자로"),
        ("food_sources", "1 1", "duplicate", "같은 항목을"),
        ("food_sources", "1 99", "select_multiple", "목록의 번호를"),
        ("market_trading", "maybe", "boolean", "예(y) 또는 아니요(n)"),
        ("respondent_name", "김영\x1b[D철", "control", "답에 제어 문자가"),
    ],
)
def test_typing_mistakes_are_refused_in_both_languages(
    name: str, typed: str, code: str, ko_start: str
) -> None:
    iv = start()
    answer_until(iv, name)
    before = iv.answers
    refusal = iv.answer(typed)
    assert refusal is not None
    assert refusal.code == code
    assert refusal.text["ko"].startswith(ko_start)
    assert set(refusal.text) == {"ko", "en"} and refusal.text["en"]
    assert iv.answers == before


def test_answers_are_read_by_number_or_value_and_choices_follow_the_filter() -> None:
    iv = start(lang="en")
    answer_all(iv, "yes", "2024-05-01", "AB012", "", "male", "1980", "north_hamgyong")
    answer_all(iv, "2019", "land_russia")
    q = iv.current()
    assert q is not None and q.name == "crossing_province"
    assert [(o.number, o.value) for o in q.options] == [
        (1, "north_hamgyong"), (2, "rason"), (3, "other_unknown"),
    ]  # fmt: skip
    assert iv.answer("ryanggang") is not None  # not on the Russian border
    assert iv.answer("2") is None and iv.answers["crossing_province"] == "rason"
    q = answer_until(iv, "food_sources")
    assert iv.answer("market, 6") is None
    assert iv.answers["food_sources"] == ["market", "foraging"]
    q = iv.current()
    assert q is not None and q.type == "boolean"
    assert [o.label for o in q.options] == ["Yes", "No"]
    assert iv.answer("Y") is None and iv.answers["market_trading"] is True


def test_an_empty_line_skips_an_optional_question_and_is_refused_for_a_required_one() -> None:
    iv = start()
    answer_all(iv, "1")
    refusal = iv.answer("")
    assert refusal is not None and refusal.code == "required"
    assert refusal.text["en"].startswith("This question needs an answer.")
    assert iv.skip() is not None  # required: cannot be skipped
    answer_all(iv, "2024-05-01", "AB012")
    q = iv.current()
    assert q is not None and q.name == "respondent_name" and not q.required
    assert iv.answer("") is None
    assert "respondent_name" not in iv.answers


# -- moving around --------------------------------------------------------------------------


def test_back_shows_the_stored_answer_and_enter_keeps_it() -> None:
    iv = start()
    assert iv.back() is False
    answer_all(iv, "1", "2024-05-01", "AB012")
    assert iv.back() is True
    q = iv.current()
    assert q is not None and q.name == "interviewer_code" and q.shown == "AB012"
    assert iv.back() is True and iv.back() is True
    q = iv.current()
    assert q is not None and q.name == "consent" and q.shown == "예, 동의합니다"
    assert iv.answer("") is None  # keep
    q = iv.current()
    assert q is not None and q.name == "interview_date"
    assert iv.answer("2024-05-02") is None
    q = iv.current()
    assert q is not None and q.name == "interviewer_code"
    assert iv.answers["interview_date"] == "2024-05-02"


def test_skip_removes_an_earlier_answer_and_what_depended_on_it() -> None:
    iv = start()
    answer_all(iv, "1", "2024-05-01", "AB012", "", "1", "1980", "1", "2019", "1", "2")
    assert iv.answers["crossing_province"] == "ryanggang"
    assert iv.back() and iv.back()
    q = iv.current()
    assert q is not None and q.name == "departure_route"
    assert iv.drops(None) == [("crossing_province",)]
    assert iv.skip() is None
    assert "departure_route" not in iv.answers and "crossing_province" not in iv.answers
    q = iv.current()
    assert q is not None and q.name == "arrival_year"


def test_changing_an_answer_in_review_drops_answers_that_no_longer_apply() -> None:
    saved: list[dict[str, Any]] = []
    iv = Interview(FORM, lang="ko", on_change=saved.append)
    drive(iv, KO_SCRIPT)
    entries = iv.review()
    assert [e.number for e in entries] == list(range(1, len(entries) + 1))
    by_name = {e.path: e for e in entries}
    assert by_name[("sex",)].label == "성별" and by_name[("sex",)].shown == "남성"
    assert by_name[("detention", 1, "facility_type")].section == "구금 경험 2"
    assert by_name[("food_sources",)].shown == "장마당(시장)에서 구입; 텃밭·뙈기밭 농사"
    assert all(e.problem is None for e in entries)

    iv.change(("was_detained",))
    q = iv.current()
    assert q is not None and q.name == "was_detained" and q.shown == "예"
    dropped = iv.drops("아니요")
    assert ("detention", 0, "facility_type") in dropped
    assert ("detention", 1, "duration_months") in dropped and len(dropped) == 8
    assert iv.label_of(dropped[0]) == "[구금 경험 1] 어떤 시설에 구금되셨습니까?"
    assert iv.answer("아니요") is None
    assert iv.current() is None  # straight back to the review
    assert "detention" not in iv.answers and saved[-1] == iv.answers
    assert iv.finalize() == []

    # Back to yes: the newly relevant detention questions are asked, then the review.
    iv.change(("was_detained",))
    assert iv.answer("예") is None
    asked = drive(iv, {"facility_type": "1", "detention_year": "1999", "+detention": "n"})
    assert asked[0] == "facility_type" and asked[-1] == "+detention"
    assert "ever_repatriated" not in asked
    assert iv.answers["detention"] == [{"facility_type": "kwanliso", "detention_year": 1999}]
    assert iv.finalize() == []


def test_a_change_that_breaks_another_answers_rule_shows_on_review_and_blocks_finalizing() -> None:
    iv = start(lang="en")
    drive(iv, KO_SCRIPT)
    iv.change(("departure_year",))
    assert iv.answer("1979") is not None  # its own rule: not before the year of birth
    assert iv.answer("2024") is None
    # Leaving in 2024 makes the COVID-19 question apply: it is asked, then the review.
    assert drive(iv, {"covid_effects": "1"}) == ["covid_effects"]
    problems = iv.finalize()
    assert [p.path for p in problems] == ["$.arrival_year", "$.years_in_third_country"]
    review = {e.path: e for e in iv.review()}
    assert review[("arrival_year",)].problem == (
        "The year of arrival cannot be before the year of leaving North Korea."
    )
    assert review[("departure_year",)].problem is None
    iv.set_lang("ko")
    assert iv.describe(problems[1]) == (
        "북한을 떠난 뒤 한국에 오기 전까지 제3국(중국 등)에서 몇 년 동안 지내셨습니까?: "
        "제3국에서 지낸 기간이 떠난 해와 도착한 해 사이의 기간보다 깁니다."
    )
    iv.change(("arrival_year",))
    assert iv.answer("2024") is None
    iv.change(("years_in_third_country",))
    assert iv.answer("0") is None
    assert iv.current() is None and iv.finalize() == []


def test_change_refuses_a_question_that_is_not_asked() -> None:
    iv = start()
    answer_all(iv, "2")
    with pytest.raises(KeyError):
        iv.change(("birth_year",))


# -- repeat groups ---------------------------------------------------------------------------


def test_repeat_group_asks_to_add_another_in_both_languages() -> None:
    iv = start()
    answer_until(iv, "was_detained")
    assert iv.answer("예") is None
    # min_count = 1: the first entry is asked without asking whether to add one.
    q = iv.current()
    assert q is not None and q.path == ("detention", 0, "facility_type")
    assert q.section == "구금 경험 1"
    answer_all(iv, "4", "2010", "", "", "", "", "", "", "")
    q = iv.current()
    assert q is not None and q.kind == "add_another" and q.path == ("detention", 1)
    assert q.label.endswith("— 하나 더 추가하시겠습니까? (지금까지 1개)")
    iv.set_lang("en")
    q = iv.current()
    assert q is not None and q.label.endswith(": add another? (1 so far)")
    assert [o.label for o in q.options] == ["Yes", "No"]
    assert iv.answer("") is not None  # must say yes or no
    assert iv.answer("y") is None
    q = iv.current()
    assert q is not None and q.path == ("detention", 1, "facility_type")
    assert q.section == "Detention 2"
    # Back out of the empty new entry: "add another?" again, remembered as yes; say no.
    assert iv.back()
    q = iv.current()
    assert q is not None and q.kind == "add_another" and q.shown == "Yes"
    assert iv.answer("n") is None
    q = iv.current()
    assert q is not None and q.name == "ever_repatriated"
    assert len(iv.answers["detention"]) == 1
    # Back again and add the second episode for real.
    assert iv.back()
    assert iv.answer("y") is None
    answer_all(iv, "3", "2015", "6", "", "", "", "", "", "")
    q = iv.current()
    assert q is not None and q.path == ("detention", 2)
    assert iv.answer("n") is None
    assert iv.answers["detention"] == [
        {"facility_type": "kuryujang", "detention_year": 2010},
        {"facility_type": "rodong_dallyeondae", "detention_year": 2015, "duration_months": 6},
    ]
    q = iv.current()
    assert q is not None and q.name == "ever_repatriated"


SMALL = """
id = "small"
version = 1
languages = ["ko", "en"]
default_language = "ko"
title = { ko = "작은 면담", en = "Small" }

[[items]]
name = "child"
type = "repeat"
max_count = 2
label = { ko = "자녀 (한 명씩)", en = "Child (one each)" }

[[items.items]]
name = "child_age"
type = "integer"
required = true
label = { ko = "나이", en = "Age" }

[[items]]
name = "done"
type = "boolean"
label = { ko = "끝", en = "Done" }
"""


def test_repeat_counts_are_respected() -> None:
    form = load_form(SMALL.encode(), fmt="toml")
    iv = Interview(form, lang="en")
    q = iv.current()
    assert (
        q is not None and q.kind == "add_another" and q.label == "Child (one each): add an entry?"
    )
    answer_all(iv, "y", "3", "y", "5")
    q = iv.current()
    assert q is not None and q.name == "done"  # max_count = 2: no third entry offered
    answer_all(iv, "")
    assert iv.answers == {"child": [{"child_age": 3}, {"child_age": 5}]}
    assert iv.finalize() == []
    iv2 = Interview(form, lang="ko")
    answer_all(iv2, "아니요", "")
    assert iv2.answers == {} and iv2.finalize() == []


# -- stopping, saving, resuming -----------------------------------------------------------------


def test_stop_keeps_the_partial_answers_and_finalizes_as_stopped_early() -> None:
    iv = start()
    answer_all(iv, "1", "2024-05-01", "AB012", "", "1", "1980")
    partial = iv.answers
    iv.stop()
    assert iv.stopped_early and iv.current() is None
    assert iv.answers == partial
    assert iv.finalize() == []
    assert VALIDATOR.validate(partial, stopped_early=True) == []
    assert {p.code for p in VALIDATOR.validate(partial)} == {"required"}


def test_on_change_gets_a_copy_of_the_response_after_every_answer() -> None:
    saved: list[dict[str, Any]] = []
    iv = Interview(FORM, lang="ko", on_change=saved.append)
    answer_all(iv, "1", "2024-05-01")
    assert saved == [{"consent": "yes"}, {"consent": "yes", "interview_date": "2024-05-01"}]
    assert iv.answer("bad code") is not None and len(saved) == 2  # nothing stored
    assert iv.answer("AB012") is None and len(saved) == 3
    saved[-1]["consent"] = "tampered"
    assert iv.answers["consent"] == "yes"

    # The whole form: one save for each answer typed (blank lines store nothing).
    saved.clear()
    drive(Interview(FORM, lang="ko", on_change=saved.append), KO_SCRIPT)
    typed = [
        text
        for name, v in KO_SCRIPT.items()
        if not name.startswith("+")
        for text in (v if isinstance(v, list) else [v])
        if text
    ]
    assert len(saved) == len(typed) == 44
    assert saved[-1] == KO_ANSWERS


def test_a_draft_resumes_after_its_last_answer() -> None:
    draft = {"consent": "yes", "interview_date": "2024-05-01", "interviewer_code": "AB012",
             "sex": "female"}  # fmt: skip
    iv = Interview(FORM, draft, lang="en")
    q = iv.current()
    assert q is not None and q.name == "birth_year"
    assert iv.back()
    q = iv.current()
    assert q is not None and q.name == "sex" and q.shown == "Female"
    done = start(KO_ANSWERS)
    assert done.current() is None and done.finalize() == []


def test_a_draft_that_is_not_a_response_to_the_form_is_refused() -> None:
    with pytest.raises(ResponseInvalid) as e:
        Interview(FORM, {"consent": "perhaps", "ghost": 1})
    assert {p.path for p in e.value.problems} == {"$.consent", "$.ghost"}
    assert "perhaps" not in str(e.value)


def test_language_switches_mid_interview() -> None:
    iv = start()
    answer_all(iv, "1")
    q = iv.current()
    assert q is not None and q.label == "면담 날짜"
    iv.set_lang("en")
    q = iv.current()
    assert q is not None and q.label == "Interview date"
    with pytest.raises(ValueError, match="not one of this form's"):
        iv.set_lang("fr")
    assert iv.lang == "en"


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_typing_any_valid_response_gives_back_exactly_that_response(seed: int) -> None:
    want = synthesize(FORM, random.Random(seed))
    iv = start(lang=random.Random(seed).choice(["ko", "en"]))
    while (q := iv.current()) is not None:
        if q.kind == "add_another":
            entries = _at(want, q.path[:-1]) or []
            text = "y" if len(entries) > int(q.path[-1]) else "n"
        else:
            text = _typed(_at(want, q.path))
        assert iv.answer(text) is None, (path_str(q.path), text)
    assert iv.answers == {k: v for k, v in want.items() if v != []}
    assert iv.finalize() == []


def _at(answers: Any, path: tuple[str | int, ...]) -> Any:
    for seg in path:
        if isinstance(seg, int):
            answers = answers[seg] if seg < len(answers) else {}
        else:
            answers = answers.get(seg)
            if answers is None:
                return None
    return answers


def _typed(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "y" if v else "n"
    if isinstance(v, list):
        return " ".join(v)
    return str(v)


# -- answers from a file ---------------------------------------------------------------------


def test_answers_from_a_toml_file(tmp_path: Path) -> None:
    f = tmp_path / "paper.toml"
    f.write_text(
        'consent = "yes"\ninterview_date = 2024-05-01\ninterviewer_code = "AB012"\n'
        'sex = "male"\nbirth_year = 1980\nprovince_of_origin = "north_hamgyong"\n'
        "departure_year = 2019\nmeals_per_day = 2\nneeded_care = false\n"
        "school_attended = false\nassigned_work = false\nwas_detained = true\n"
        'ever_repatriated = false\nhousehold_disability = ["none"]\npaid_bribes = false\n'
        'share_consent = "anonymised_reports"\n'
        '[[detention]]\nfacility_type = "kuryujang"\ndetention_year = 2010\n'
        '[[detention]]\nfacility_type = "jipkyulso"\ndetention_year = 2018\n',
        encoding="utf-8",
    )
    answers = answers_from_file(FORM, f)
    assert answers["interview_date"] == "2024-05-01"
    assert answers["detention"][1] == {"facility_type": "jipkyulso", "detention_year": 2018}
    assert VALIDATOR.validate(answers) == []


def test_answers_from_a_json_file_report_every_problem_at_once(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(KO_ANSWERS, ensure_ascii=False), encoding="utf-8")
    assert answers_from_file(FORM, good) == KO_ANSWERS
    bad = dict(KO_ANSWERS, departure_year=1970, sex="unknown", ghost="boo", arrival_year=None)
    del bad["share_consent"]
    bad["detention"] = [{"facility_type": "kwanliso", "detention_year": 1970}]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ResponseInvalid) as e:
        answers_from_file(FORM, f)
    got = {(p.path, p.code) for p in e.value.problems}
    assert got == {
        ("$.departure_year", "constraint"),
        ("$.sex", "type"),
        ("$.ghost", "unknown_field"),
        ("$.share_consent", "required"),
        ("$.detention[0].detention_year", "constraint"),
    }
    assert "has 5 problems" in str(e.value) and "boo" not in str(e.value)
    # A stopped interview from paper: missing required answers are not problems.
    partial = tmp_path / "stopped.json"
    partial.write_text('{"consent": "yes", "sex": "female"}', encoding="utf-8")
    assert answers_from_file(FORM, partial, stopped_early=True) == {
        "consent": "yes", "sex": "female",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", b'{"consent": "yes",', "not valid JSON: Expecting property name"),
        ("a.json", b'{"meals_per_day": NaN}', "NaN and Infinity are not numbers"),
        ("a.toml", b"consent = ", "not valid TOML"),
        ("a.json", b"\xff\xfe", "not UTF-8"),
        ("a.txt", b"{}", "end in .toml or .json"),
    ],
)
def test_answers_files_that_cannot_be_read(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ResponseInvalid) as e:
        answers_from_file(FORM, f)
    assert message in str(e.value)


# -- the terminal, in-process ------------------------------------------------------------------


def run_lines(iv: Interview, *lines: str) -> tuple[str, str, list[dict[str, Any]]]:
    saved: list[dict[str, Any]] = []
    out = io.StringIO()
    outcome = run_terminal(
        iv, stdin=io.StringIO("".join(f"{x}\n" for x in lines)), stdout=out,
        on_change=saved.append,
    )  # fmt: skip
    return outcome, out.getvalue(), saved


def test_terminal_stop_asks_to_confirm_then_stops() -> None:
    iv = start()
    outcome, out, saved = run_lines(iv, "1", "2024-05-01", ":stop", "n", ":stop", "y")
    assert outcome == "stopped"
    assert "응답자가 면담을 멈추려 하십니까?" in out and "면담을 계속합니다." in out
    assert "면담을 멈췄습니다." in out
    assert iv.stopped_early and iv.finalize() == []
    assert saved[-1] == {"consent": "yes", "interview_date": "2024-05-01"}


def test_terminal_pause_and_end_of_input_keep_the_draft() -> None:
    iv = start(lang="en")
    outcome, out, saved = run_lines(iv, "yes", ":pause")
    assert outcome == "paused" and "Interview paused." in out and len(saved) == 1
    outcome, out, _ = run_lines(Interview(FORM, iv.answers, lang="en"), "2024-05-01")
    assert outcome == "paused"
    assert "[2/" in out and "] Interview date (required)" in out


def test_terminal_commands_help_skip_and_unknown() -> None:
    iv = start()
    outcome, out, _ = run_lines(
        iv, ":help", ":skip", "1", ":lang", ":frobnicate", ":lang xx", ":review", "", ":pause"
    )
    assert outcome == "paused"
    assert ":back        이전 질문으로 돌아갑니다" in out
    assert "! 이 질문에는 답이 있어야 합니다." in out
    assert "Language: English" in out and "Unknown command: :frobnicate" in out
    assert "This form's languages: ko, en" in out
    assert "── Review ──" in out and "   1. You have heard the explanation above." in out


def test_terminal_refused_consent_goes_to_review_and_back_and_finalizes() -> None:
    iv = start(lang="en")
    outcome, out, saved = run_lines(iv, "2", ":back", "", "5", ":done")
    assert outcome == "finalized" and iv.answers == {"consent": "no"} and len(saved) == 1
    label = "] You have heard the explanation above. Do you agree to take part in the interview?"
    assert out.count(label) == 2  # asked, then shown again after :back from the review
    assert "※ The interview ends here." in out and "Current answer: No, I do not agree" in out
    assert "There is no such number in the list." in out
    assert out.endswith("The interview is complete and the response is saved.\n")


def test_terminal_ctrl_c_pauses_with_every_answer_saved() -> None:
    class Interrupted(io.StringIO):
        def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
            if self.tell() >= len(self.getvalue()):
                raise KeyboardInterrupt
            return super().readline()

    saved: list[dict[str, Any]] = []
    out = io.StringIO()
    iv = start()
    outcome = run_terminal(iv, stdin=Interrupted("1\n"), stdout=out, on_change=saved.append)
    assert outcome == "paused" and saved == [{"consent": "yes"}]
    assert out.getvalue().endswith("나중에 이어서 하실 수 있습니다.\n")


def test_terminal_text_answers_may_start_with_a_colon() -> None:
    iv = start(lang="en")
    run_lines(iv, "1", "2024-05-01", "AB012", "::colon", ":pause")
    assert iv.answers["respondent_name"] == ":colon"


# -- the terminal, as a person would use it: a real pseudo-terminal -------------------------------


class Terminal:
    """A child process on a pseudo-terminal; every read is bounded by a timeout."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        self.fd = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector.interview", *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        os.close(slave)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.seen = ""

    def expect(self, text: str, timeout: float = 5.0) -> str:
        """Wait until ``text`` is printed; return everything up to and including it."""
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"timed out waiting for {text!r}; screen:\n{self.buffer}")
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the child has gone
                data = b""
            if not data:
                raise AssertionError(f"exited before {text!r}; screen:\n{self.buffer}")
            self.buffer += self.decoder.decode(data).replace("\r\n", "\n")
        end = self.buffer.index(text) + len(text)
        got, self.buffer = self.buffer[:end], self.buffer[end:]
        self.seen += got
        return got

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode("utf-8") + b"\n")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        os.close(self.fd)


def interview_in_terminal(
    lang: str, steps: list[tuple[str, str]], changes: list[tuple[str, str, str, bool]]
) -> tuple[dict[str, Any], str, str]:
    """Type ``steps`` (wait until the first text is shown, then type the second), change
    answers on the review screen, finalize with ``:done``.

    ``changes``: the answer's line as listed on the review screen, the current answer as
    the question then shows it, the new answer, and whether to confirm that answers which
    no longer apply are removed. Returns the printed result, the whole screen and the
    last review screen.
    """
    term = Terminal("--lang", lang)
    try:
        for wait_for, line in steps:
            term.expect(wait_for)
            term.type(line)
        for listed, current, new, confirm in changes:
            screen = term.expect("· :help")
            number = re.search(rf"^\s*(\d+)\. {re.escape(listed)}$", screen, re.M)
            assert number is not None, screen
            term.type(number.group(1))
            term.expect(current)
            term.type(new)
            if confirm:
                term.expect("(y/n)")
                term.type("y")
        review = term.expect("· :help")
        term.type(":done")
        term.expect("RESULT ")
        line = term.expect("\n")
        assert term.proc.wait(timeout=5) == 0
        return json.loads(line), term.seen, review
    finally:
        term.close()


def test_a_person_interviews_in_korean_in_a_terminal() -> None:
    t0 = time.monotonic()
    steps = [
        ("] 위 설명을 들으셨습니다. 면담에 참여하는 데 동의하십니까? (필수)", "1"),
        ("] 면담 날짜 (필수)", "2024-05-01"),
        ("] 면담자 코드", "AB012"),
        ("] 성함", "김영철"),
        ("] 성별", "2"),
        ("] 태어난 해", "1980"),
        ("] 북한을 떠나기 전에", "1"),
        ("] 북한을 떠나신 해는", "1975"),
        ("! 떠나신 해는 태어난 해보다 빠를 수 없습니다.", "2019"),
        ("] 어떤 경로로", "1"),
        ("    2. 량강도", "2"),
        ("] 한국에 도착하신 해", "2023"),
        ("] 북한을 떠난 뒤 한국에 오기 전까지", "3"),
        ("] 가족의 성분은", ":back"),
        ("현재 답: 3", "4"),
        ("] 가족의 성분은", ""),
        ("] 북한에서 마지막으로 하신 일", "1"),
        ("── 식량 사정 ──", ""),
        ("] 평소 하루에 몇 끼를", "2"),
        ("] 가족 전체가 한 달에", "12.5"),
        ("] 국가 배급", "5"),
        ("] 식량은 어디에서", "2 3"),
        ("] 본인이나 가족이 장마당", "예"),
        ("] 장마당 장사에 대한 단속", "아니오"),
        ("] 먹을 것이 없어", ""),
        ("] 주변에서 굶주림으로", ""),
        ("] 북한에 계실 때 본인이나 가족이 병원", "아니요"),
        ("] 약은 주로", ""),
        ("] 병원이나 진료소에서", ""),
        ("] 북한에서 학교에 다니셨습니까?", ":lang en"),
        ("Language: English", ""),
        ("] Did you attend school in North Korea?", "n"),
        ("] Were you assigned to a workplace", "no"),
        ("] How often were you mobilised for unpaid", ""),
        ("] Did you ever serve in a dolgyeokdae", "n"),
        ("] Were you ever detained in North Korea", "y"),
        ("── Detention 1 ──", ""),
        ("] In what kind of facility", "4"),
        ("] In which year were you detained?", "2010"),
        ("] Roughly how many months", "3"),
        ("] When you were arrested", ""),
        ("] What were you accused of?", ""),
        ("] Was there a trial?", ""),
        ("] Select everything you experienced in detention.", "1 2"),
        ("] How did this detention end?", ""),
        ("] Is there anything more you would like to say about this detention?",
         "조사 중에 오래 앉아 있게 했습니다 (합성)"),
        ("add another? (1 so far)", "y"),
        ("── Detention 2 ──", ""),
        ("] In what kind of facility", "3"),
        ("] In which year were you detained?", "2015"),
        ("] Roughly how many months", "6"),
        ("] When you were arrested", ""),
        ("] What were you accused of?", ""),
        ("] Was there a trial?", ""),
        ("] Select everything you experienced in detention.", ""),
        ("] How did this detention end?", ""),
        ("] Is there anything more you would like to say about this detention?", ""),
        ("add another? (2 so far)", "n"),
        ("] Were you ever forcibly returned", "n"),
        ("] Did you need a travel permit", ""),
        ("] Were you ever stopped or punished", ""),
        ("] Did you live near the border?", "n"),
        ("] How often did you watch or listen", ""),
        ("] Select every punishment you know of", ""),
        ("] Were you yourself ever caught", ""),
        ("] Did you believe there were informants", ""),
        ("] Did you ever hear of rewards", ""),
        ("] Did you or anyone in your household have a lot of difficulty", "3"),
        ("] Did you or your family ever give money or goods (bribes)", "n"),
        ("] Finally, we ask once more", "1"),
        ("] Is there anything else you would like to add?", ""),
    ]  # fmt: skip
    change = ("Usually, how many meals a day did you eat?: 2", "Current answer: 2", "1", False)
    result, screen, review = interview_in_terminal("ko", steps, [change])
    assert result["outcome"] == "finalized" and result["stopped_early"] is False
    assert result["tty"] is True
    assert result["answers"] == {
        "consent": "yes",
        "interview_date": "2024-05-01",
        "interviewer_code": "AB012",
        "respondent_name": "김영철",
        "sex": "male",
        "birth_year": 1980,
        "province_of_origin": "north_hamgyong",
        "departure_year": 2019,
        "departure_route": "land_china",
        "crossing_province": "ryanggang",
        "arrival_year": 2023,
        "years_in_third_country": 4,
        "occupation": "farm",
        "meals_per_day": 1,
        "grain_kg_per_month": 12.5,
        "pds_rations": "never",
        "food_sources": ["market", "own_plot"],
        "market_trading": True,
        "market_suppression": False,
        "needed_care": False,
        "school_attended": False,
        "assigned_work": False,
        "dolgyeokdae_service": False,
        "was_detained": True,
        "detention": [
            {
                "facility_type": "kuryujang",
                "detention_year": 2010,
                "duration_months": 3,
                "treatment": ["beatings", "still_sitting"],
                "detention_notes": "조사 중에 오래 앉아 있게 했습니다 (합성)",
            },
            {"facility_type": "rodong_dallyeondae", "detention_year": 2015, "duration_months": 6},
        ],
        "ever_repatriated": False,
        "lived_near_border": False,
        "household_disability": ["none"],
        "paid_bribes": False,
        "share_consent": "anonymised_reports",
    }
    assert result["saves"] == 40  # 38 typed answers (not 1975), 1 changed, 1 language switch
    assert VALIDATOR.validate(result["answers"]) == []
    assert "※ The interview is over." in screen and "── Review ──" in screen
    assert re.search(r"^\s*\d+\. Usually, how many meals a day did you eat\?: 1$", review, re.M)
    assert "The interview is complete and the response is saved." in screen
    assert time.monotonic() - t0 < 10


def test_a_person_interviews_in_english_in_a_terminal() -> None:
    t0 = time.monotonic()
    steps = [
        ("] You have heard the explanation above.", "yes"),
        ("] Interview date (required)", "2024-06-15"),
        ("] Interviewer code", "CD345"),
        ("] Name (optional: Enter skips)", "박순희"),
        ("] Sex", "1"),
        ("] Year of birth", "1975"),
        ("] In which province or city did you last live", "3"),
        ("] In which year did you leave North Korea?", "2021"),
        ("] By which route", "2"),
        ("    2. Rason", "2"),
        ("] In which year did you arrive", ""),
        ("] After leaving North Korea and before", ""),
        ("] As far as you know, how was your family's songbun", "4"),
        ("] What was your last occupation", "9"),
        ("] What was the occupation?", "synthetic: sock factory"),
        ("] At that time, how many people", "4"),
        ("] Usually, how many meals a day", "3"),
        ("] Roughly how many kilograms of grain", ":back"),
        ("Current answer: 3  (Enter keeps it)", ""),
        ("] Roughly how many kilograms of grain", ""),
        ("] How often did your household receive rations", ""),
        ("] Where did your household get food?", "market foraging"),
        ("] Did you or your family trade", "yes"),
        ("] Did you experience or witness crackdowns", "yes"),
        ("] What kind of crackdown", "1 7"),
        ("] How often did someone in your household go a whole day", "3"),
        ("] Do you know of anyone around you who died of hunger", "y"),
        ("] During the COVID-19 border closure", "1 10"),
        ("! 'None of these' cannot be combined with other answers.", "1 2"),
        ("] While in North Korea, did you or a family member ever need", "y"),
        ("] How often did you have to give money or goods (bribes)", "5"),
        ("] Were you ever unable to get treatment", "y"),
        ("] Where did you mainly obtain medicine?", "2"),
        ("] How often could you get the medicine", ""),
        ("] What did you mainly use during menstruation?", "2"),
        ("] When you needed care for pregnancy", "3"),
        ("] Did you attend school in North Korea?", ":lang ko"),
        ("화면 언어: 한국어", ""),
        ("] 북한에서 학교에 다니셨습니까?", "아니요"),
        ("] 국가로부터 직장을 배치받으셨습니까?", "예"),
        ("] 그 직장에서 임금이나 배급을", "3"),
        ("] 직장에 나가지 않는 대신", "아니오"),
        ("] 직장에 나가지 않았다는 이유로", ""),
        ("] 대가 없는 '자원' 노동", "2"),
        ("] 녀맹", "1"),
        ("] 돌격대(건설 돌격대 등)에서", "아니요"),
        ("] 북한에서 구금되신 적이", "아니요"),
        ("] 중국 등 다른 나라에서 북한으로 강제송환", "예"),
        ("] 모두 몇 번 송환되셨습니까?", "1"),
        ("] 어느 나라에서 송환되셨습니까?", "1"),
        ("] 송환된 뒤 어떤 시설에", "5 4"),
        ("] 송환된 뒤에 겪으신 일을", "1"),
        ("] 조사받을 때 한국 사람이나", "1"),
        ("] 그 때문에 더 무거운 처벌을", "3"),
        ("] 송환에 대해 더 말씀하고", ""),
        ("] 다른 도나 시로 가려면", ""),
        ("] 려행증명서 없이", ""),
        ("] 국경 가까운 지역에", "예"),
        ("] 국경 지역에서 어떤 통제를", "3"),
        ("] 외국 영상물이나 방송", ""),
        ("] 외국 영상물을 보거나 퍼뜨린", ""),
        ("] 외국 영상물 때문에 본인이", ""),
        ("] 주변에 보위부", ""),
        ("] 신고하면 보상을", ""),
        ("] 본인이나 함께 사신 가족 가운데", "1"),
        ("] 어떤 어려움이었습니까?", "3"),
        ("] 국가로부터 도움", "3"),
        ("] 장애 때문에 겪으신 일을", ""),
        ("] 본인이나 가족이 일을 해결하거나", "예"),
        ("] 무엇을 위해서였습니까?", "1"),
        ("] 누구에게 주셨습니까?", "1 7"),
        ("] 가장 컸던 뇌물은", "500"),
        ("] 뇌물에 대해 더 말씀하고", ""),
        ("] 마지막으로, 오늘 말씀해 주신", "2"),
        ("] 더 하고 싶으신 말씀이", "감사합니다 (합성 응답)"),
    ]  # fmt: skip
    # On the review screen, change sex: three answers for women only no longer apply.
    change = ("성별: 여성", "현재 답: 여성", "2", True)
    result, screen, review = interview_in_terminal("en", steps, [change])
    assert result["outcome"] == "finalized" and result["tty"] is True
    assert result["answers"] == {
        "consent": "yes",
        "interview_date": "2024-06-15",
        "interviewer_code": "CD345",
        "respondent_name": "박순희",
        "sex": "male",
        "birth_year": 1975,
        "province_of_origin": "ryanggang",
        "departure_year": 2021,
        "departure_route": "land_russia",
        "crossing_province": "rason",
        "songbun": "unknown",
        "occupation": "other",
        "occupation_other": "synthetic: sock factory",
        "household_size": 4,
        "meals_per_day": 3,
        "food_sources": ["market", "foraging"],
        "market_trading": True,
        "market_suppression": True,
        "market_suppression_forms": ["confiscation", "bribes_demanded"],
        "household_hunger": "sometimes",
        "hunger_deaths_known": True,
        "covid_effects": ["food_shortage", "price_rise"],
        "needed_care": True,
        "care_payment_frequency": "never",
        "went_without_care": True,
        "medicine_source": "market",
        "school_attended": False,
        "assigned_work": True,
        "assigned_work_pay": "unpaid",
        "paid_to_skip_work": False,
        "volunteer_labour": "often",
        "dolgyeokdae_service": False,
        "was_detained": False,
        "ever_repatriated": True,
        "repatriation_times": 1,
        "repatriated_from": ["china"],
        "repatriation_held_in": ["jipkyulso", "kuryujang"],
        "repatriation_treatment": ["beatings"],
        "south_contact_suspected": "yes",
        "harsher_punishment": "unknown",
        "lived_near_border": True,
        "border_measures": ["shoot_on_sight"],
        "household_disability": ["self"],
        "disability_domains": ["walking"],
        "disability_support": "none",
        "paid_bribes": True,
        "bribe_purposes": ["travel_permit"],
        "bribe_recipients": ["police", "guard"],
        "largest_bribe_cny": 500.0,
        "share_consent": "share_un_partners",
        "closing_notes": "감사합니다 (합성 응답)",
    }
    assert VALIDATOR.validate(result["answers"]) == []
    assert "이렇게 바꾸면 더 이상 해당하지 않는 답 3개가 지워집니다:" in screen
    assert "  - 생리 기간에는 주로 무엇을 사용하셨습니까?" in screen
    assert "※ 면담자 확인: 송환 경험이 있지만 구금 항목에 기록된 것이 없습니다." in screen
    assert re.search(r"^\s*\d+\. 성별: 남성$", review, re.M)
    assert "면담을 마쳤습니다. 응답이 저장되었습니다." in screen
    assert time.monotonic() - t0 < 10
