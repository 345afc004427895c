"""The suite's one way to wait: for a condition, never for a fixed time.

- `wait_until`: from plain (synchronous) test code, for conditions outside the test's own loop:
  a real process's files, a page, a server's records. Checks, then sleeps briefly, until a
  deadline.
- `until`: the same inside an async test (the awaited sleep lets the loop run meanwhile).
- `wait_for` (tests/conftest.py): event-driven, on an engine's bus, for the engine's own state.
Each raises AssertionError naming what it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition",
               *, interval: float = 0.05) -> T:
    """Return the first truthy value of `predicate()`; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return value


async def until(predicate: Callable[[], T], what: str = "condition", timeout: float = 15.0,
                *, interval: float = 0.02) -> T:
    """`wait_until` for async tests: the loop keeps running while it waits."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
    return value
