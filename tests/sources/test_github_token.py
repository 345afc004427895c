"""The GitHub token reaches PRSubscriptions through its start: read off the loop from a token
provider (the OS keyring may prompt, or hang while locked), within a timeout, never in the
constructor and never holding the engine's loop. Against the loopback fake GitHub."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.journal import DailyLog
from kairos_desktop.queue import InboundQueue
from kairos_desktop.settings import Settings
from kairos_desktop.sources.github import PRSubscriptions
from kairos_desktop.store import Store
from tests.sources.fake_github import FakeGitHub
from tests.waiting import until

REPO = "octo/app"


@pytest.fixture
async def github(clock: FakeClock) -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub(clock)
    await fake.start()
    fake.add_pr(REPO, 7)
    yield fake
    await fake.stop()


@pytest.fixture
def daily_log(tmp_path: Path, clock: FakeClock) -> DailyLog:
    return DailyLog(tmp_path / "logs", clock)


MakeSubs = Callable[..., PRSubscriptions]


@pytest.fixture
async def make_subs(tmp_path: Path, clock: FakeClock, github: FakeGitHub,
                    daily_log: DailyLog) -> AsyncIterator[MakeSubs]:
    store = Store(tmp_path / "store.json", owner=True)
    made: list[PRSubscriptions] = []

    def build(**options: object) -> PRSubscriptions:
        subs = PRSubscriptions(store=store, put=InboundQueue(store).put, clock=clock,
                               daily_log=daily_log, **options)  # type: ignore[arg-type]
        subs.apply_settings(Settings(github_api_url=github.base_url))
        subs.subscribe(REPO, 7)
        made.append(subs)
        return subs

    yield build
    for subs in made:
        await subs.stop()
    store.close()


def authorizations(github: FakeGitHub) -> set[str | None]:
    return {r.headers.get("Authorization") for r in github.requests}


async def test_the_token_is_read_off_the_loop_when_polling_starts(
        make_subs: MakeSubs, github: FakeGitHub) -> None:
    asked_on: list[threading.Thread] = []

    def provider() -> str:
        asked_on.append(threading.current_thread())
        return "ghp_from_keyring"

    subs = make_subs(token_provider=provider)
    assert asked_on == [] and subs.token is None  # building asks nothing
    await subs.start()
    await until(lambda: github.count() >= 4, "the first poll")
    assert asked_on and asked_on[0] is not threading.main_thread()
    assert authorizations(github) == {"Bearer ghp_from_keyring"}
    assert subs.status()["token"] == "present"
    assert "ghp_from_keyring" not in str(subs.status())


async def test_a_keyring_that_does_not_answer_is_given_up_after_the_timeout(
        make_subs: MakeSubs, github: FakeGitHub, daily_log: DailyLog, clock: FakeClock) -> None:
    locked = threading.Event()

    def provider() -> str:
        locked.wait(10)  # a locked keyring waiting for its unlock prompt
        return "ghp_too_late"

    subs = make_subs(token_provider=provider, token_timeout=0.2)
    try:
        await subs.start()
        assert subs.status()["token"] in ("reading", "absent")
        await until(lambda: github.count() >= 4, "the first poll, anonymously")
        assert authorizations(github) == {None}
        assert subs.status()["token"] == "absent"
        assert "did not answer within 0.2 s" in daily_log.read(clock.now().date())
    finally:
        locked.set()


async def test_a_token_given_at_construction_wins_over_the_provider(
        make_subs: MakeSubs, github: FakeGitHub) -> None:
    asked: list[bool] = []

    def provider() -> str:
        asked.append(True)
        return "ghp_from_keyring"

    subs = make_subs(token="ghp_given", token_provider=provider)
    await subs.start()
    await until(lambda: github.count() >= 4, "the first poll")
    assert asked == [] and authorizations(github) == {"Bearer ghp_given"}
