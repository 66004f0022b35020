"""Base classes and constrained types shared by every wire struct."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, TypeVar

import msgspec

T = TypeVar("T")


class Write(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request body. Unknown fields are an error, so privileged fields can never slip through."""


class Read(msgspec.Struct, frozen=True, kw_only=True):
    """A response body."""


class Page(Read, Generic[T], frozen=True):
    items: list[T]
    total: int
    limit: int
    offset: int


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
ShortText = Annotated[str, msgspec.Meta(max_length=2000)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32)]
Address = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Level = Annotated[int, msgspec.Meta(ge=1, le=5)]
Seconds = Annotated[int, msgspec.Meta(gt=0, le=30 * 86400)]
# Money in the smallest unit of the currency (cents), never a float: sums must come out exact.
Cents = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Items = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]], msgspec.Meta(max_length=100)
]


class TimeWindowIn(Write, frozen=True):
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class TimeWindowOut(Read, frozen=True):
    starts_at: dt.datetime
    ends_at: dt.datetime
