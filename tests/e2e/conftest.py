"""A real server for the end-to-end tests: `fieldwork serve` on the demo data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import seed_demo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server_env() -> dict[str, str]:
    """More environment for the server; a test module overrides this fixture (an SMTP server to send to, say)."""
    return {}


@pytest.fixture
def server(
    database_url: str, engine: AsyncEngine, tmp_path: Path, server_env: dict[str, str]
) -> Iterator[str]:
    """`fieldwork serve` on a free loopback port, on the test database holding the demo (tests.conftest.seed_demo)."""
    seed_demo(database_url, engine)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "FIELDWORK_DATA_DIR": str(tmp_path),
        "FIELDWORK_SECRET_KEY": "e2e-secret-" + "x" * 32,
        "FIELDWORK_PLANNER_WORKERS": "1",
        "FIELDWORK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **server_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; raise SystemExit(main(['serve']))"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
