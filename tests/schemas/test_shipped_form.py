"""The shipped escapee-interview form: loads cleanly and carries what DOMAIN.md requires."""

from __future__ import annotations

import random

import pytest

from schemas.forms import available, shipped_form
from schemas.survey import IDENTITY_ROLES, Validator
from schemas.survey.synth import synthesize


@pytest.fixture(scope="module")
def form():  # type: ignore[no-untyped-def]
    return shipped_form("escapee-interview")


def test_listed_and_versioned(form) -> None:  # type: ignore[no-untyped-def]
    assert "escapee-interview" in available()
    assert (form.id, form.version) == ("escapee-interview", 1)
    assert set(form.languages) == {"ko", "en"}


def test_unknown_shipped_form_names_the_choices() -> None:
    with pytest.raises(KeyError, match="escapee-interview"):
        shipped_form("no-such-form")


def test_no_consent_ends_the_interview(form) -> None:  # type: ignore[no-untyped-def]
    v = Validator(form)
    assert v.validate({"consent": "no"}) == []
    # Any answer after a refusal is an error: nothing past consent is relevant.
    full = synthesize(form, random.Random(3), fixed={"consent": "yes"})
    full["consent"] = "no"
    problems = v.validate(full)
    assert problems and {p.code for p in problems} == {"not_relevant"}


def test_identity_fields_present_and_sensitive(form) -> None:  # type: ignore[no-untyped-def]
    ident = form.identity_items()
    assert set(ident) == set(IDENTITY_ROLES)
    assert all(it.sensitive for it in ident.values())


def test_provinces_cover_the_dprk(form) -> None:  # type: ignore[no-untyped-def]
    item = form.identity_items()["province_of_origin"]
    labels = " ".join(c.label["en"] for c in form.choices[item.choices])
    for place in [
        "North Hamgyong", "South Hamgyong", "Ryanggang", "Chagang", "North Pyongan",
        "South Pyongan", "North Hwanghae", "South Hwanghae", "Kangwon", "Pyongyang",
        "Rason", "Nampo", "Kaesong", "Sinuiju",
    ]:  # fmt: skip
        assert place in labels, place


def test_detention_is_a_repeat_with_the_facility_types(form) -> None:  # type: ignore[no-untyped-def]
    det = form.item("detention")
    assert det.type == "repeat"
    facility = next(it for it in det.items if it.name == "facility_type")
    values = {c.value for c in form.choices[facility.choices]}
    assert {"kwanliso", "kyohwaso", "rodong_dallyeondae", "kuryujang", "jipkyulso"} <= values
    ko = " ".join(c.label["ko"] for c in form.choices[facility.choices])
    for term in ("관리소", "교화소", "로동단련대", "구류장", "집결소"):
        assert term in ko


@pytest.mark.parametrize(
    "topic",
    ["food", "health", "schooling", "forced_labour", "repatriation", "disability", "bribery"],
)
def test_topics_present(form, topic: str) -> None:  # type: ignore[no-untyped-def]
    names = " ".join(it.name for it, _ in form.walk())
    assert topic.split("_")[0] in names


def test_synthetic_responses_are_valid(form) -> None:  # type: ignore[no-untyped-def]
    v = Validator(form)
    rng = random.Random(11)
    for _ in range(300):
        answers = synthesize(form, rng, fixed={"consent": "yes"})
        assert v.validate(answers) == []


def test_stopped_early_needs_no_required_answers(form) -> None:  # type: ignore[no-untyped-def]
    v = Validator(form)
    partial = {"consent": "yes"}
    assert any(p.code == "required" for p in v.validate(partial))
    assert v.validate(partial, stopped_early=True) == []
