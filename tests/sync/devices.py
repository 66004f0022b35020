"""Simulated phones for the sync tests: the reference client over the app's test client, through a transport that
can lose requests and answers, send twice, and a clock that can be wrong."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from sync.client import HttpTransport, Reply, SyncClient, Unavailable


@dataclass
class FaultyTransport:
    """Wraps a real transport. Each planned fault applies to the next request whose path starts with its prefix:
    `drop_request` (never reaches the server), `drop_response` (the server commits, the device hears nothing),
    `duplicate` (sent twice; the device sees the second answer)."""

    inner: HttpTransport
    plan: list[tuple[str, str]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    # The body of the last push the server answered with 200, to replay it.
    last_push: Any = None

    def fail(self, fault: str, path_prefix: str = "/") -> None:
        self.plan.append((fault, path_prefix))

    def _next_fault(self, path: str) -> str | None:
        for i, (fault, prefix) in enumerate(self.plan):
            if path.startswith(prefix):
                del self.plan[i]
                return fault
        return None

    def __call__(self, method: str, path: str, **kwargs: Any) -> Reply:
        fault = self._next_fault(path)
        if fault == "drop_request":
            raise Unavailable("request lost")
        reply = self.inner(method, path, **kwargs)
        if fault == "duplicate":
            reply = self.inner(method, path, **kwargs)
        if path == "/push" and reply.status == 200:
            self.last_push = kwargs.get("json_body")
        if fault == "drop_response":
            raise Unavailable("response lost")
        self.sizes.append(reply.size)
        return reply


class Clock:
    """A device clock off the true time by `offset`."""

    def __init__(self, offset: dt.timedelta = dt.timedelta()) -> None:
        self.offset = offset

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def phone(
    client: TestClient[Any],
    headers: dict[str, str],
    store: Path,
    *,
    transport: Callable[[HttpTransport], Any] | None = None,
    **kwargs: Any,
) -> SyncClient:
    token = headers["Authorization"].removeprefix("Bearer ")
    inner = HttpTransport(client, token)
    return SyncClient(store, transport(inner) if transport else inner, **kwargs)


def faulty(
    client: TestClient[Any], headers: dict[str, str], store: Path, **kwargs: Any
) -> tuple[SyncClient, FaultyTransport]:
    made: list[FaultyTransport] = []

    def wrap(inner: HttpTransport) -> FaultyTransport:
        made.append(FaultyTransport(inner))
        return made[0]

    device = phone(client, headers, store, transport=wrap, **kwargs)
    return device, made[0]
