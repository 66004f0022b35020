"""Rendering the customer pages: one Jinja environment, autoescaped, with the filters and labels they share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "pages" / "customer"


def _local(moment: dt.datetime | None, zone: str, fmt: str) -> str:
    """A moment in the customer's own time zone (the territory's), the way they read a clock."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt)


def _qty(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["local"] = _local
_ENV.filters["qty"] = _qty
_ENV.globals.update(
    stage_labels={"scheduled": "Scheduled", "on_the_way": "On the way", "on_site": "On site", "done": "Done"},
    category_labels={"service": "the service", "technical": "the work", "billing": "the bill"},
    complaint_labels={
        "open": "Received",
        "in_progress": "Being handled",
        "resolved": "Resolved: waiting for your answer",
        "reopened": "Open again",
        "closed": "Closed",
    },
    action_labels={
        "created": "Complaint received",
        "contacted_customer": "We contacted you",
        "rework_scheduled": "Rework scheduled",
        "refund_requested": "Refund requested",
        "owner_changed": "Assigned to a member of our team",
        "resolved": "Resolved",
        "customer_satisfied": "You were satisfied",
        "customer_unsatisfied": "You were not satisfied",
        "reopened": "Opened again",
    },
)


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)
