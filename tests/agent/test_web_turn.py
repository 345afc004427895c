"""The agent turn with the web's server tools and the daily budget, against the fake Messages
API: blocks sent back as they came, uses logged, shown and priced, errors never retried, uses
capped per turn, refused tools dropped once; no call at the budget's cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos_desktop.agent.turn import Message, Request, TurnSpec
from kairos_desktop.budget import BudgetExceededError, DailyBudget
from kairos_desktop.history import History
from kairos_desktop.home import Home
from kairos_desktop.model_types import Usage
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from kairos_desktop.tools.web import server_tools
from kairos_desktop.usage import UsageLedger
from tests.agent.test_turn import SYSTEM, TOOLS, Parts, first_message, parts  # noqa: F401
from tests.conftest import EngineFactory, wait_sleeping, write_settings
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    error,
    text,
    tool_use,
    web_search,
    web_search_error,
)

RESULTS = [("https://news.example.org/rent", "Rent law 2026"),
           ("https://gov.example/rent", "The rent act")]


def with_web(parts: Parts, settings: Settings) -> TurnSpec:  # noqa: F811
    """A turn whose requests offer the web's server tools as `settings` (the runner's from now
    on) switch them on."""
    parts.ctx.settings = settings

    def build(messages: list[Message]) -> Request:
        return SYSTEM, [*TOOLS.definitions(), *server_tools(parts.ctx.settings)], messages
    return TurnSpec(request=build, tools=TOOLS, ctx=parts.ctx, max_iterations=10)


@pytest.fixture
def history(parts: Parts, tmp_path: Path) -> History:  # noqa: F811
    found = History(tmp_path / "history", "usage")
    parts.usage = UsageLedger(Store(tmp_path / "usage.json"), parts.clock, found)
    return found


async def test_a_web_search_round_trip_keeps_the_blocks_logs_prices_and_cites_it(
        parts: Parts, fake: FakeAnthropic, history: History) -> None:  # noqa: F811
    settings = Settings(web_search_enabled=True)
    fake.enqueue(web_search("rent law 2026", RESULTS, answer="Rents may rise 3% a year.",
                            then=tool_use("Echo", {"text": "told"})),
                 text("done"))
    messages = first_message()
    result = await parts.runner().run(with_web(parts, settings), messages)
    assert result.tools == ["web_search", "Echo"] and result.calls == 2
    sent_back = fake.history[1].messages[1]["content"]
    assert [b["type"] for b in sent_back] == ["server_tool_use", "web_search_tool_result",
                                             "text", "tool_use"]
    assert sent_back[1]["tool_use_id"] == sent_back[0]["id"]
    assert sent_back[1]["content"][0]["encrypted_content"].startswith("Eq")
    assert sent_back[2]["citations"][0]["url"] == "https://news.example.org/rent"
    assert "tool web_search" in parts.today() and "rent law 2026 ->" in parts.today()
    shown = [e.data for e in parts.events if e.kind == "tool" and e.data["name"] == "web_search"]
    assert shown and shown[0]["input"] == {"query": "rent law 2026"} and not shown[0]["isError"]
    assert [s.url for s in parts.ctx.turn.web_sources] == ["https://news.example.org/rent"]
    day = parts.usage.day()
    assert day["webSearches"] == 1 and day["costUsd"] >= 0.01  # $10 per 1,000 searches
    [turn] = parts.usage.turns()
    assert turn["tools"] == ["web_search", "Echo"] and turn["calls"] == 2
    assert turn["caller"] == "turn" and turn["costUsd"] == pytest.approx(day["costUsd"], abs=1e-4)


async def test_a_search_that_failed_in_the_api_is_logged_shown_and_not_retried(
        parts: Parts, fake: FakeAnthropic) -> None:  # noqa: F811
    fake.enqueue(web_search_error("rent law", "too_many_requests",
                                  answer="The search failed; I'll say so."))
    result = await parts.runner().run(
        with_web(parts, Settings(web_search_enabled=True)), first_message())
    assert result.calls == 1 and len(fake.history) == 1
    assert "ERROR too_many_requests" in parts.today()
    shown = [e.data for e in parts.events if e.kind == "tool"]
    assert shown[0]["name"] == "web_search" and shown[0]["isError"]


async def test_a_turn_may_not_search_more_than_its_uses(
        parts: Parts, fake: FakeAnthropic) -> None:  # noqa: F811
    settings = Settings(web_search_enabled=True, web_search_max_uses=1)
    fake.enqueue(web_search("a", RESULTS, then=tool_use("Echo", {"text": "x"})), text("done"))
    await parts.runner().run(with_web(parts, settings), first_message())
    assert "web_search" in fake.history[0].tool_names
    assert "web_search" not in fake.history[1].tool_names  # its one use is spent


async def test_a_request_refused_for_its_web_tools_goes_on_once_without_them(
        parts: Parts, fake: FakeAnthropic) -> None:  # noqa: F811
    settings = Settings(web_search_enabled=True)
    fake.enqueue(error(400, message="web_search is not enabled for this organization"),
                 text("answered without the web"), text("again"), text("and now"))
    runner = parts.runner()
    result = await runner.run(with_web(parts, settings), first_message())
    assert result.calls == 1 and len(fake.history) == 2 and parts.retries == []
    assert "web_search" not in fake.history[1].tool_names
    assert "refused the web tools" in parts.today()
    await runner.run(with_web(parts, settings), first_message())
    assert "web_search" not in fake.history[2].tool_names  # off until the settings change
    await runner.run(with_web(parts, Settings(web_search_enabled=True, web_search_max_uses=2)),
                     [{"role": "user", "content": [{"type": "text", "text": "now?"}]}])
    assert "web_search" in fake.history[3].tool_names


async def test_at_the_budgets_cap_no_call_is_made_and_the_turn_says_so(
        parts: Parts, fake: FakeAnthropic, history: History, tmp_path: Path) -> None:  # noqa: F811
    budget = DailyBudget(ledger=parts.usage, store=Store(tmp_path / "budget.json"),
                         clock=parts.clock, cap=lambda: 0.5)
    parts.usage.guard = budget
    parts.usage.record("claude-sonnet-5-5", Usage(input_tokens=250_000), cache_ttl="5m")
    fake.enqueue(text("never"))
    with pytest.raises(BudgetExceededError):
        await parts.runner().run(parts.spec(), first_message())
    assert fake.history == []
    [turn] = parts.usage.turns()
    assert turn["ended"] == "budget" and turn["calls"] == 0


async def test_in_the_app_a_search_is_offered_when_on_and_the_message_names_its_source(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {"webSearchEnabled": True, "webAllowedDomains": ["example.org"]})
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}),
                 web_search("rent law 2026", RESULTS[:1], answer="Rents may rise 3% a year.",
                            then=tool_use("SendUserMessage", {"message": "Rents may rise 3%.",
                                                              "status": "normal"})),
                 tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    engine.app.send("what changed in the rent law?")
    await wait_sleeping(engine, 2)
    offered = [{k: v for k, v in t.items() if k != "cache_control"}
               for t in fake.history[1].body["tools"] if t.get("name") == "web_search"]
    assert offered == [{"type": "web_search_20260318", "name": "web_search", "max_uses": 5,
                        "allowed_domains": ["example.org"]}]
    assert "# The web" in fake.history[1].system_text
    [answer] = [m["text"] for m in engine.outbox.recent() if m["status"] == "normal"]
    assert answer == ("Rents may rise 3%.\n\nSources:\n"
                      "- [Rent law 2026](https://news.example.org/rent)")
    assert engine.app.status()["usageToday"]["webSearches"] == 1
    stored = fake.history[2].messages[-2]["content"]  # sent back on the next call, as it came
    assert [b["type"] for b in stored][:3] == ["server_tool_use", "web_search_tool_result",
                                              "text"]


async def test_with_the_web_off_no_server_tool_is_offered(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    assert not [t for t in fake.history[0].body["tools"] if "type" in t]
    assert "# The web" not in fake.history[0].system_text
