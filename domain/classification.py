"""Classification of a request: what a service type implies for the job, its deadlines, and triage suggestions.

Pure functions over plain values, so the rules can be read and tested without a database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from domain.enums import Priority

HOUR = 3600


@dataclass(frozen=True, slots=True)
class SlaTerms:
    respond_within_s: int
    resolve_within_s: int


# Used for a priority that has no row in the configurable policy table.
DEFAULT_SLA: Mapping[Priority, SlaTerms] = {
    Priority.URGENT: SlaTerms(1 * HOUR, 8 * HOUR),
    Priority.HIGH: SlaTerms(4 * HOUR, 24 * HOUR),
    Priority.NORMAL: SlaTerms(24 * HOUR, 72 * HOUR),
    Priority.LOW: SlaTerms(72 * HOUR, 168 * HOUR),
}


@dataclass(frozen=True, slots=True)
class Deadlines:
    respond_by: dt.datetime
    resolve_by: dt.datetime


def deadlines(received_at: dt.datetime, terms: SlaTerms) -> Deadlines:
    # Elapsed time, not wall-clock time: counted in UTC so a DST change never moves a deadline by an hour.
    received_at = received_at.astimezone(dt.UTC)
    return Deadlines(
        respond_by=received_at + dt.timedelta(seconds=terms.respond_within_s),
        resolve_by=received_at + dt.timedelta(seconds=terms.resolve_within_s),
    )


@dataclass(frozen=True, slots=True)
class Suggestion:
    code: str
    score: int
    matched: tuple[str, ...]


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def suggest_service_types(
    description: str, keywords_by_code: Mapping[str, Iterable[str]]
) -> list[Suggestion]:
    """Service types ranked by how many of their keywords the description contains.

    A keyword may be a phrase; it matches when its words appear consecutively, and counts once per word so that
    'boiler pressure' outweighs 'boiler'. Ties are broken by code, so the ranking is stable.
    """
    words = _words(description)
    text = " " + " ".join(words) + " "
    ranked: list[Suggestion] = []
    for code, keywords in keywords_by_code.items():
        matched = [kw for kw in keywords if _words(kw) and f" {' '.join(_words(kw))} " in text]
        if matched:
            score = sum(len(_words(kw)) for kw in matched)
            ranked.append(Suggestion(code=code, score=score, matched=tuple(matched)))
    ranked.sort(key=lambda s: (-s.score, s.code))
    return ranked
