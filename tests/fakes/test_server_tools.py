"""The fake's server tools (web search, web fetch) as the real SDK reads them: its own block
types, citations and usage.server_tool_use, streamed or not, and the API's checks on the tools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic import Anthropic
from anthropic.types import (
    ServerToolUseBlock,
    TextBlock,
    WebFetchToolResultBlock,
    WebSearchToolResultBlock,
)

from tests.fakes.anthropic_server import (
    FakeAnthropic,
    text,
    tool_use,
    web_fetch,
    web_search,
    web_search_error,
)

MODEL = "claude-sonnet-5-5"
SEARCH = {"type": "web_search_20260318", "name": "web_search", "max_uses": 3}
FETCH = {"type": "web_fetch_20260318", "name": "web_fetch", "max_uses": 2}
ASK: list[Any] = [{"role": "user", "content": "what changed in the rent law?"}]
RESULTS = [("https://news.example.org/rent", "Rent law 2026"),
           ("https://gov.example/rent", "The rent act")]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> Anthropic:
    return Anthropic(api_key="test", base_url=fake.base_url, max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_a_search_comes_back_in_the_sdks_own_blocks_with_citations_and_counters(
        fake: FakeAnthropic, client: Anthropic, stream: bool) -> None:
    fake.enqueue(web_search("rent law 2026", RESULTS, answer="Rents may rise 3% a year."))
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=500, messages=ASK,
                                    tools=[SEARCH]) as events:  # type: ignore[list-item]
            message = events.get_final_message()
    else:
        message = client.messages.create(model=MODEL, max_tokens=500, messages=ASK,
                                         tools=[SEARCH])  # type: ignore[list-item]
    use, result, answer = message.content
    assert isinstance(use, ServerToolUseBlock) and use.name == "web_search"
    assert use.id.startswith("srvtoolu_") and use.input == {"query": "rent law 2026"}
    assert isinstance(result, WebSearchToolResultBlock) and result.tool_use_id == use.id
    assert isinstance(result.content, list)
    assert [r.url for r in result.content] == [url for url, _ in RESULTS]
    assert isinstance(answer, TextBlock) and answer.citations
    assert answer.citations[0].type == "web_search_result_location"
    assert answer.citations[0].url == "https://news.example.org/rent"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.usage.server_tool_use.web_fetch_requests == 0


def test_a_fetch_and_a_failed_search_have_their_shapes(
        fake: FakeAnthropic, client: Anthropic) -> None:
    fake.enqueue(web_fetch("https://gov.example/rent", "Section 4: rents...", title="Act"),
                 web_search_error("rent", "max_uses_exceeded", answer="I could not search."))
    fetched = client.messages.create(model=MODEL, max_tokens=500, messages=ASK,
                                     tools=[FETCH])  # type: ignore[list-item]
    block = fetched.content[1]
    assert isinstance(block, WebFetchToolResultBlock)
    assert block.content.type == "web_fetch_result"
    assert block.content.url == "https://gov.example/rent"
    assert fetched.usage.server_tool_use is not None
    assert fetched.usage.server_tool_use.web_fetch_requests == 1
    failed = client.messages.create(model=MODEL, max_tokens=500, messages=ASK,
                                    tools=[SEARCH])  # type: ignore[list-item]
    result = failed.content[1]
    assert isinstance(result, WebSearchToolResultBlock)
    assert not isinstance(result.content, list)
    assert result.content.error_code == "max_uses_exceeded"


def test_the_blocks_go_back_as_they_came_and_a_search_can_precede_a_tool_call(
        fake: FakeAnthropic, client: Anthropic) -> None:
    fake.enqueue(web_search("rent", RESULTS, answer="Found it.",
                            then=tool_use("SendUserMessage", {"message": "x"})), text("ok"))
    tools: Any = [SEARCH, {"name": "SendUserMessage", "input_schema": {"type": "object"}}]
    first = client.messages.create(model=MODEL, max_tokens=500, messages=ASK, tools=tools)
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use"
    back = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                                     for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                          "content": "Delivered."}]}]
    assert client.messages.create(model=MODEL, max_tokens=500, messages=back,
                                  tools=tools).content[0].type == "text"


@pytest.mark.parametrize(("tool", "words"), [
    ({**SEARCH, "name": "search"}, "Input should be 'web_search'"),
    ({**SEARCH, "max_uses": 0}, "greater than or equal to 1"),
    ({**SEARCH, "allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "Cannot specify"),
    ({**FETCH, "allowed_domains": ["https://a.com"]}, "invalid domain"),
])
def test_a_server_tool_the_api_would_refuse_gets_its_400(
        fake: FakeAnthropic, client: Anthropic, tool: dict[str, Any], words: str) -> None:
    fake.enqueue(text("never"))
    with pytest.raises(anthropic.BadRequestError, match=words):
        client.messages.create(model=MODEL, max_tokens=500, messages=ASK,
                               tools=[tool])  # type: ignore[list-item]
    assert fake.pending == 1


def test_a_result_without_its_use_is_refused(fake: FakeAnthropic, client: Anthropic) -> None:
    fake.enqueue(text("never"))
    orphan = [*ASK, {"role": "assistant", "content": [
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_x", "content": []}]},
        {"role": "user", "content": "and?"}]
    with pytest.raises(anthropic.BadRequestError, match="does not follow a matching"):
        client.messages.create(model=MODEL, max_tokens=500, messages=orphan,
                               tools=[SEARCH])  # type: ignore[list-item]
