"""How a certificate writes values for people: times in the territory's zone, durations, answers, places.

Shared by the HTML page and the PDF so the two say the same thing in the same words."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def when(moment: dt.datetime | None, tz: dt.tzinfo) -> str:
    """`24 Nov 2026, 10:32 (UTC+01:00)`: the offset is written out so a printed page stays unambiguous."""
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    return f"{local:%d %b %Y, %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def answer(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None or value == "":
        return "-"
    if isinstance(value, list):
        return ", ".join(answer(v) for v in value) or "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def place(latitude: float | None, longitude: float | None) -> str:
    if latitude is None or longitude is None:
        return "-"
    return f"{latitude:.5f}, {longitude:.5f}"


def quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def server_clock(moment: dt.datetime | None, offset_s: float) -> dt.datetime | None:
    """A device's time moved onto the server's clock by the offset measured when it last synced."""
    return moment + dt.timedelta(seconds=offset_s) if moment is not None else None


def short(digest: str, length: int = 16) -> str:
    return digest[:length] + "..." if len(digest) > length else digest
