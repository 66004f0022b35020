"""A loop the app runs beside the requests (the outbox sender, the early-warning watch): started with the app,
stopped with it, finishing the round in hand unless it takes longer than a grace period."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

# How long shutdown waits for the round in hand before cancelling it.
STOP_GRACE_S = 10.0


class BackgroundLoop:
    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _start(self, loop: Coroutine[Any, Any, None], name: str) -> None:
        self._task = asyncio.get_running_loop().create_task(loop, name=name)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Finish the round in hand, then stop; cancel it if it takes longer than `grace_s`."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            _, late = await asyncio.wait({task}, timeout=grace_s)
            for pending in late:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less when asked to stop meanwhile; True when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()
