"""Turning an address into coordinates through geopy, with the geocoder chosen by configuration.

`gazetteer` is an offline geopy geocoder over a fixed list of places; it is the default so that the demo and
the tests never reach the network. Any geopy service name (`nominatim`, `photon`, ...) can be configured instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from geopy.exc import GeopyError
from geopy.geocoders import get_geocoder_for_service
from geopy.geocoders.base import Geocoder as GeopyGeocoder
from geopy.location import Location
from geopy.point import Point

from domain.errors import GeocodingFailed


class Gazetteer(GeopyGeocoder):  # type: ignore[misc]
    """A geopy geocoder answering from a mapping of place names to coordinates, without any network.

    An address matches the longest known place name it contains (case-insensitive).
    """

    def __init__(self, places: Mapping[str, tuple[float, float]]) -> None:
        super().__init__()
        self._places = {name.casefold(): coords for name, coords in places.items()}

    def geocode(self, query: str, *, exactly_one: bool = True, **_: Any) -> Location | list[Location] | None:
        text = query.casefold()
        hits = sorted((name for name in self._places if name in text), key=len, reverse=True)
        if not hits:
            return None
        locations = [Location(query, Point(*self._places[name]), {"place": name}) for name in hits]
        return locations[0] if exactly_one else locations


class AddressLocator:
    """Wraps a geopy geocoder; the blocking lookup runs in a worker thread."""

    def __init__(self, geocoder: GeopyGeocoder, timeout_s: float = 5.0) -> None:
        self._geocoder = geocoder
        self._timeout_s = timeout_s

    async def locate(self, address: str) -> tuple[float, float]:
        try:
            location = await asyncio.wait_for(
                asyncio.to_thread(self._geocoder.geocode, address), self._timeout_s
            )
        except (GeopyError, TimeoutError) as exc:
            raise GeocodingFailed(f"the geocoder could not be reached: {type(exc).__name__}") from exc
        if location is None:
            raise GeocodingFailed(f"no place found for the address '{address}'; give latitude and longitude")
        found = location[0] if isinstance(location, list) else location
        return float(found.latitude), float(found.longitude)


def geocoder_from_config(
    name: str, options: Mapping[str, Any], places: Mapping[str, tuple[float, float]]
) -> Any:
    if name == "gazetteer":
        return Gazetteer(places)
    return get_geocoder_for_service(name)(**options)
