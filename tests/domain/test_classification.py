"""Triage suggestions and SLA deadlines, as a dispatcher sees them."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.classification import DEFAULT_SLA, HOUR, SlaTerms, deadlines, suggest_service_types
from domain.demo import SERVICE_TYPES
from domain.enums import Priority

DEMO_KEYWORDS = {code: keywords for code, *_, keywords in SERVICE_TYPES}


def ranking(description: str, keywords: dict[str, list[str]]) -> list[tuple[str, int]]:
    return [(s.code, s.score) for s in suggest_service_types(description, keywords)]


# Suggestions ------------------------------------------------------------------------------------------------------


def test_a_phrase_outweighs_a_single_word() -> None:
    keywords = {"boiler-repair": ["boiler"], "boiler-pressure": ["boiler pressure"]}
    assert ranking("The boiler pressure keeps dropping", keywords) == [
        ("boiler-pressure", 2),
        ("boiler-repair", 1),
    ]


def test_a_phrase_matches_only_its_words_in_order() -> None:
    keywords = {"boiler-pressure": ["boiler pressure"], "boiler-repair": ["boiler"]}
    assert ranking("The pressure of the boiler keeps dropping", keywords) == [("boiler-repair", 1)]


def test_more_matched_keywords_rank_higher() -> None:
    keywords = {"leak-repair": ["leak", "water", "pipe"], "drain-unblock": ["sink", "drain"]}
    suggestions = suggest_service_types("Water leak from the pipe under the sink", keywords)
    assert [(s.code, s.score, s.matched) for s in suggestions] == [
        ("leak-repair", 3, ("leak", "water", "pipe")),
        ("drain-unblock", 1, ("sink",)),
    ]


@pytest.mark.parametrize("order", [("b-type", "a-type", "c-type"), ("c-type", "b-type", "a-type")])
def test_ties_are_broken_by_code_whatever_the_catalogue_order(order: tuple[str, ...]) -> None:
    keywords = {code: ["noise"] for code in order}
    assert ranking("A strange noise in the night", keywords) == [("a-type", 1), ("b-type", 1), ("c-type", 1)]


def test_no_match_gives_no_suggestion() -> None:
    assert suggest_service_types("Customer unsure, asks for a technician to look", DEMO_KEYWORDS) == []
    assert suggest_service_types("", DEMO_KEYWORDS) == []
    assert suggest_service_types("leak", {}) == []


def test_keywords_match_whole_words_whatever_the_case_and_punctuation() -> None:
    keywords = {"leak-repair": ["pipe"], "electrical-fault": ["Socket"]}
    assert ranking("PIPE! burst; socket-sparks", keywords) == [("electrical-fault", 1), ("leak-repair", 1)]
    assert ranking("the pipeline and the sockets", keywords) == []


def test_blank_keywords_never_match() -> None:
    assert ranking("anything at all", {"odd": ["", "  ", "--"]}) == []


@pytest.mark.parametrize(
    ("description", "best"),
    [
        ("Boiler shows fault code E119, no heating", "boiler-repair"),
        ("Burst pipe in the bathroom, water on the floor", "leak-repair"),
        ("Breaker keeps tripping in the kitchen", "electrical-fault"),
        ("Install a wallbox for a new electric car", "ev-charger"),
        ("Washing machine does not drain", "appliance-repair"),
        ("Locked out, lost the key of the front door", "lock-change"),
    ],
)
def test_demo_requests_suggest_the_expected_type_first(description: str, best: str) -> None:
    assert suggest_service_types(description, DEMO_KEYWORDS)[0].code == best


words = st.sampled_from(["leak", "water", "pipe", "boiler", "pressure", "no", "heating", "sink", "the"])


@given(
    st.lists(words, max_size=12).map(" ".join),
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.lists(st.lists(words, min_size=1, max_size=3).map(" ".join), max_size=4, unique=True),
        max_size=5,
    ),
)
def test_ranking_is_by_score_then_code_and_scores_count_matched_words(
    description: str, keywords: dict[str, list[str]]
) -> None:
    suggestions = suggest_service_types(description, keywords)
    assert [(-s.score, s.code) for s in suggestions] == sorted((-s.score, s.code) for s in suggestions)
    padded = f" {description} "
    for s in suggestions:
        assert s.matched
        assert all(f" {kw} " in padded for kw in s.matched)
        assert s.score == sum(len(kw.split()) for kw in s.matched)
    suggested = {s.code for s in suggestions}
    for code, kws in keywords.items():
        if code not in suggested:
            assert not any(f" {kw} " in padded for kw in kws)


# Deadlines --------------------------------------------------------------------------------------------------------

RECEIVED = dt.datetime(2025, 3, 30, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("priority", list(Priority))
def test_deadlines_follow_the_default_terms(priority: Priority) -> None:
    terms = DEFAULT_SLA[priority]
    due = deadlines(RECEIVED, terms)
    assert due.respond_by - RECEIVED == dt.timedelta(seconds=terms.respond_within_s)
    assert due.resolve_by - RECEIVED == dt.timedelta(seconds=terms.resolve_within_s)
    assert RECEIVED < due.respond_by <= due.resolve_by


def test_default_terms_cover_every_priority_and_are_faster_for_more_urgent_work() -> None:
    assert set(DEFAULT_SLA) == set(Priority)
    order = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]
    responds = [DEFAULT_SLA[p].respond_within_s for p in order]
    resolves = [DEFAULT_SLA[p].resolve_within_s for p in order]
    assert responds == sorted(responds)
    assert resolves == sorted(resolves)
    assert DEFAULT_SLA[Priority.URGENT] == SlaTerms(1 * HOUR, 8 * HOUR)


def test_custom_terms_are_used_as_given() -> None:
    due = deadlines(RECEIVED, SlaTerms(respond_within_s=90, resolve_within_s=5400))
    assert (due.respond_by, due.resolve_by) == (
        RECEIVED + dt.timedelta(seconds=90),
        RECEIVED + dt.timedelta(seconds=5400),
    )
