"""Simulated phones for the sync tests: the reference client over the app's test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from sync.client import HttpTransport, SyncClient


def phone(client: TestClient[Any], headers: dict[str, str], store: Path, **kwargs: Any) -> SyncClient:
    token = headers["Authorization"].removeprefix("Bearer ")
    return SyncClient(store, HttpTransport(client, token), **kwargs)
