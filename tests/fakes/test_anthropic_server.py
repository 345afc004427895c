"""Tests for the fake Anthropic server, all driven through the real ``anthropic`` SDK."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest
from anthropic import Anthropic, AsyncAnthropic

from tests.fakes.anthropic_server import (
    FakeAnthropic,
    RecordedRequest,
    Reply,
    delay,
    disconnect,
    error,
    prompt_tokens,
    text,
    tool_use,
    tool_uses,
)

MODEL = "claude-test-model"
USER_HI: list[Any] = [{"role": "user", "content": "hi"}]
# ~5000 tokens under the fake's chars/4 rule.
BIG_SYSTEM = "You are Kairos, an always-on desktop assistant. " * 420


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cached_fake(clock: FakeClock) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(clock=clock, on_empty=text("ok")) as server:
        yield server


def make_client(fake: FakeAnthropic, **kwargs: Any) -> Anthropic:
    return Anthropic(api_key="test-key", base_url=fake.base_url, **kwargs)


def make_async_client(fake: FakeAnthropic, **kwargs: Any) -> AsyncAnthropic:
    return AsyncAnthropic(api_key="test-key", base_url=fake.base_url, **kwargs)


def usage_adds_up(message: anthropic.types.Message, request: RecordedRequest) -> bool:
    u = message.usage
    read = u.cache_read_input_tokens or 0
    creation = u.cache_creation_input_tokens or 0
    return u.input_tokens + read + creation == prompt_tokens(request.body)


def raw_post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ----------------------------------------------------------------------------- basics


def test_starts_fast_and_stops_fast() -> None:
    server = FakeAnthropic()
    t0 = time.perf_counter()
    server.start()
    started = time.perf_counter() - t0
    assert server.base_url.startswith("http://127.0.0.1:")
    t0 = time.perf_counter()
    server.stop()
    assert started < 0.1
    assert time.perf_counter() - t0 < 0.5


def test_text_reply_round_trips_sync(fake: FakeAnthropic) -> None:
    fake.enqueue(text("Hello from the fake"))
    with make_client(fake) as client:
        msg = client.messages.create(model=MODEL, max_tokens=100, messages=USER_HI)

    assert msg.id.startswith("msg_")
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.model == MODEL
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Hello from the fake"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.output_tokens == 5  # ceil(19 / 4)
    (req,) = fake.history
    assert req.path == "/v1/messages"
    assert req.reply_status == 200
    assert req.body["messages"] == USER_HI
    assert req.last_user_text == "hi"
    assert usage_adds_up(msg, req)
    totals = fake.totals
    assert totals.requests == 1 and totals.output_tokens == 5
    assert totals.input_tokens == prompt_tokens(req.body)


async def test_text_reply_round_trips_async(fake: FakeAnthropic) -> None:
    fake.enqueue(text("async hello"))
    async with make_async_client(fake) as client:
        msg = await client.messages.create(model=MODEL, max_tokens=100, messages=USER_HI)
    assert msg.content[0].text == "async hello"  # type: ignore[union-attr]
    req = await fake.await_requests(1)
    assert req.reply_status == 200
    assert req.headers["x-stainless-async"].startswith("async:")


def test_sdk_headers_are_recorded(fake: FakeAnthropic) -> None:
    fake.enqueue(text("ok"))
    with make_client(fake) as client:
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    headers = fake.history[0].headers
    # anthropic 2.12 sends the api key as a bearer token, not x-api-key.
    assert headers["authorization"] == "Bearer test-key"
    assert "anthropic-version" in headers
    assert headers["x-stainless-retry-count"] == "0"


def test_tool_use_round_trip_carries_tool_result(fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("read_file", {"path": "notes.txt"}, text="Let me look."), text("Done."))
    tools: list[Any] = [
        {
            "name": "read_file",
            "description": "Read a file",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "What is in notes.txt?"}]
    with make_client(fake) as client:
        first = client.messages.create(model=MODEL, max_tokens=100, messages=messages, tools=tools)
        assert first.stop_reason == "tool_use"
        assert [b.type for b in first.content] == ["text", "tool_use"]
        call = first.content[1]
        assert call.type == "tool_use"
        assert call.name == "read_file" and call.input == {"path": "notes.txt"}
        assert call.id.startswith("toolu_")

        messages.append({"role": "assistant", "content": first.content})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "buy milk"}],
            }
        )
        second = client.messages.create(model=MODEL, max_tokens=100, messages=messages, tools=tools)

    assert second.content[0].text == "Done."  # type: ignore[union-attr]
    req = fake.history[1]
    assert req.reply_status == 200
    assert req.tool_names == ["read_file"]
    assert req.last_user_text == "buy milk"
    result = req.messages[-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call.id


def test_tool_uses_get_unique_ids_even_when_reply_is_reused() -> None:
    reply = tool_uses(("a", {"x": 1}), ("b", {}))
    ids: list[str] = []
    with FakeAnthropic(on_empty=reply) as server, make_client(server) as client:
        for _ in range(2):
            msg = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
            assert [b.name for b in msg.content] == ["a", "b"]  # type: ignore[union-attr]
            ids += [b.id for b in msg.content]  # type: ignore[union-attr]
    assert len(set(ids)) == 4


def test_explicit_tool_use_id_is_kept(fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Sleep", {"seconds": 5}, id="toolu_fixed"))
    with make_client(fake) as client:
        msg = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert msg.content[0].id == "toolu_fixed"  # type: ignore[union-attr]


def test_callable_reply_sees_the_request(fake: FakeAnthropic) -> None:
    def answer(req: RecordedRequest) -> Reply:
        return text(f"you said {req.last_user_text!r} under {req.system_text!r}")

    fake.enqueue(answer)
    with make_client(fake) as client:
        msg = client.messages.create(
            model=MODEL,
            max_tokens=10,
            system=[{"type": "text", "text": "sys A"}, {"type": "text", "text": "sys B"}],
            messages=[{"role": "user", "content": [{"type": "text", "text": "ping"}]}],
        )
    assert msg.content[0].text == "you said 'ping' under 'sys A\\nsys B'"  # type: ignore[union-attr]


def test_on_empty_callable_answers_every_tick() -> None:
    def sleep_reply(req: RecordedRequest) -> Reply:
        return tool_use("Sleep", {"seconds": 3600})

    with FakeAnthropic(on_empty=sleep_reply) as server, make_client(server) as client:
        for _ in range(3):
            msg = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
            assert msg.stop_reason == "tool_use"
        assert len(server.history) == 3


# ----------------------------------------------------------------------------- streaming


def test_stream_helper_yields_same_final_message_as_create(fake: FakeAnthropic) -> None:
    reply = tool_use("set_timer", {"minutes": 25, "label": "focus block"}, text="Setting it.")
    fake.enqueue(reply, reply)
    with make_client(fake) as client:
        plain = client.messages.create(model=MODEL, max_tokens=100, messages=USER_HI)
        with client.messages.stream(model=MODEL, max_tokens=100, messages=USER_HI) as stream:
            streamed_text = "".join(stream.text_stream)
            final = stream.get_final_message()

    assert streamed_text == "Setting it."
    assert final.stop_reason == plain.stop_reason == "tool_use"
    assert final.model == MODEL
    strip_ids = [{k: v for k, v in b.to_dict().items() if k != "id"} for b in plain.content]
    assert [{k: v for k, v in b.to_dict().items() if k not in ("id", "parsed_output")}
            for b in final.content] == strip_ids  # fmt: skip
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert fake.history[1].stream is True
    assert fake.history[1].headers.get("x-stainless-helper-method") == "stream"


def test_create_stream_true_emits_real_event_sequence(fake: FakeAnthropic) -> None:
    fake.enqueue(
        tool_use("lookup", {"q": "weather in Paris tomorrow"}, text="Checking the weather")
    )
    with make_client(fake) as client:
        events = list(
            client.messages.create(model=MODEL, max_tokens=100, messages=USER_HI, stream=True)
        )

    types = [e.type for e in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_start") == types.count("content_block_stop") == 2
    start = events[0]
    assert start.type == "message_start"
    assert start.message.content == [] and start.message.stop_reason is None
    json_deltas = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert len([d for d in json_deltas if d]) >= 2  # split over several chunks
    assert json.loads("".join(json_deltas)) == {"q": "weather in Paris tomorrow"}
    text_deltas = [
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    assert len(text_deltas) >= 2 and "".join(text_deltas) == "Checking the weather"
    delta = events[-2]
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "tool_use" and delta.usage.output_tokens > 0


async def test_async_stream_helper(fake: FakeAnthropic) -> None:
    fake.enqueue(text("streaming, asynchronously"))
    async with (
        make_async_client(fake) as client,
        client.messages.stream(model=MODEL, max_tokens=50, messages=USER_HI) as stream,
    ):
        chunks = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(chunks) == "streaming, asynchronously"
    assert final.content[0].text == "streaming, asynchronously"  # type: ignore[union-attr]


def test_error_reply_on_stream_request_raises_before_streaming(fake: FakeAnthropic) -> None:
    fake.enqueue(error(529))
    with (
        make_client(fake, max_retries=0) as client,
        pytest.raises(anthropic.OverloadedError),
        client.messages.stream(model=MODEL, max_tokens=50, messages=USER_HI) as stream,
    ):
        stream.get_final_message()


# ----------------------------------------------------------------------------- errors & retries


def test_429_with_retry_after_is_retried_by_the_sdk(fake: FakeAnthropic) -> None:
    fake.enqueue(error(429, headers={"retry-after": "0"}), text("finally"))
    with make_client(fake) as client:
        msg = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert msg.content[0].text == "finally"  # type: ignore[union-attr]
    history = fake.history
    assert [r.reply_status for r in history] == [429, 200]
    assert [r.headers["x-stainless-retry-count"] for r in history] == ["0", "1"]


def test_error_shape_and_types(fake: FakeAnthropic) -> None:
    fake.enqueue(error(529), error(500, message="boom"), error(400, message="bad thing"))
    with make_client(fake, max_retries=0) as client:
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
        with pytest.raises(anthropic.InternalServerError) as internal:
            client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
        with pytest.raises(anthropic.BadRequestError) as bad:
            client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert overloaded.value.type == "overloaded_error"
    assert internal.value.type == "api_error" and internal.value.api_message == "boom"
    assert bad.value.body["error"] == {"type": "invalid_request_error", "message": "bad thing"}  # type: ignore[index]
    assert overloaded.value.request_id is not None


def test_x_should_retry_false_stops_sdk_retries(fake: FakeAnthropic) -> None:
    fake.enqueue(error(500, headers={"x-should-retry": "false"}), text("never reached"))
    with make_client(fake, max_retries=3) as client, pytest.raises(anthropic.InternalServerError):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert len(fake.history) == 1 and fake.pending == 1


def test_exhausted_script_gives_clear_500(fake: FakeAnthropic) -> None:
    fake.enqueue(text("only one"))
    with make_client(fake, max_retries=0) as client:
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
        with pytest.raises(anthropic.InternalServerError) as exc_info:
            client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert exc_info.value.status_code == 500
    assert exc_info.value.api_message == "fake server script exhausted after 1 requests"
    assert [r.reply_status for r in fake.history] == [200, 500]


def test_exhausted_script_is_not_retried_even_with_default_retries(fake: FakeAnthropic) -> None:
    with make_client(fake) as client, pytest.raises(anthropic.InternalServerError):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert len(fake.history) == 1


def test_delay_makes_the_client_time_out_and_stop_does_not_hang() -> None:
    server = FakeAnthropic().start()
    server.enqueue(delay(30, text("too late")))
    with (
        make_client(server, max_retries=0, timeout=0.3) as client,
        pytest.raises(anthropic.APITimeoutError),
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert server.wait_for_requests(1).path == "/v1/messages"
    t0 = time.perf_counter()
    server.stop()
    assert time.perf_counter() - t0 < 1.0


def test_wait_for_requests_returns_while_reply_is_delayed(fake: FakeAnthropic) -> None:
    fake.enqueue(delay(0.5, text("slow")))
    with make_client(fake) as client:
        result: list[str] = []
        worker = threading.Thread(
            target=lambda: result.append(
                client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI).content[0].text  # type: ignore[union-attr]
            )
        )
        worker.start()
        req = fake.wait_for_requests(1, timeout=2)
        assert req.last_user_text == "hi"
        assert result == []  # the reply has not been sent yet
        worker.join(5)
    assert result == ["slow"]


def test_disconnect_is_a_connection_error_and_is_retried(fake: FakeAnthropic) -> None:
    fake.enqueue(disconnect(), disconnect(), text("recovered"))
    with make_client(fake, max_retries=0) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    with make_client(fake, max_retries=1) as client:
        msg = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
    assert msg.content[0].text == "recovered"  # type: ignore[union-attr]
    assert len(fake.history) == 3


def test_wait_for_requests_timeout_is_a_clear_assertion(fake: FakeAnthropic) -> None:
    with pytest.raises(
        AssertionError, match=r"expected at least 1 request\(s\) within 0.05s, got 0"
    ):
        fake.wait_for_requests(1, timeout=0.05)


async def test_await_requests_wakes_on_arrival_and_times_out_clearly(
    fake: FakeAnthropic,
) -> None:
    fake.enqueue(delay(0.5, text("later")))
    async with make_async_client(fake) as client:
        task = asyncio.create_task(
            client.messages.create(model=MODEL, max_tokens=10, messages=USER_HI)
        )
        req = await fake.await_requests(1, timeout=2)
        assert not task.done()
        assert req.body["model"] == MODEL
        msg = await task
    assert msg.content[0].text == "later"  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match="expected at least 2 request"):
        await fake.await_requests(2, timeout=0.05)


def test_concurrent_requests_are_served_in_parallel() -> None:
    def echo(req: RecordedRequest) -> Reply:
        return delay(0.3, text("echo:" + req.last_user_text))

    with FakeAnthropic(on_empty=echo) as server, make_client(server) as client:

        def call(i: int) -> str:
            msg = client.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": f"n{i}"}]
            )
            return msg.content[0].text  # type: ignore[union-attr]

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(call, range(12)))
        elapsed = time.perf_counter() - t0
        assert answers == [f"echo:n{i}" for i in range(12)]
        assert elapsed < 12 * 0.3 / 2
        assert server.totals.requests == 12


# ----------------------------------------------------------------------- protocol & validation


def test_missing_auth_is_401_and_unknown_path_is_404(fake: FakeAnthropic) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": USER_HI}
    status, payload = raw_post(fake.base_url + "/v1/messages", body)
    assert status == 401
    assert payload["type"] == "error" and payload["error"]["type"] == "authentication_error"
    status, payload = raw_post(fake.base_url + "/v1/nope", body, {"x-api-key": "k"})
    assert status == 404 and payload["error"]["type"] == "not_found_error"
    status, payload = raw_post(fake.base_url + "/v1/messages", body, {"x-api-key": "k"})
    assert status == 500  # authorised, valid, but nothing scripted
    assert [r.reply_status for r in fake.history] == [401, 404, 500]


def test_count_tokens_endpoint(fake: FakeAnthropic) -> None:
    with make_client(fake) as client:
        count = client.messages.count_tokens(model=MODEL, system=BIG_SYSTEM, messages=USER_HI)
    assert count.input_tokens == prompt_tokens(fake.history[0].body) > 5000
    assert fake.pending == 0 and fake.totals.requests == 0


def test_tool_result_without_matching_tool_use_is_rejected(fake: FakeAnthropic) -> None:
    fake.enqueue(text("unused"))
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_ghost", "content": "x"}],
        },
    ]
    with make_client(fake) as client, pytest.raises(anthropic.BadRequestError) as exc_info:
        client.messages.create(model=MODEL, max_tokens=10, messages=messages)
    err = exc_info.value
    assert err.type == "invalid_request_error"
    assert "toolu_ghost" in str(err.api_message)
    assert "messages.2.content.0" in str(err.api_message)
    assert fake.history[0].reply_status == 400
    assert fake.pending == 1  # a rejected request does not consume the script


def _tool(name: str) -> dict[str, Any]:
    return {"name": name, "input_schema": {"type": "object"}}


def _cc_text(s: str, ttl: str | None = None) -> dict[str, Any]:
    cc: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        cc["ttl"] = ttl
    return {"type": "text", "text": s, "cache_control": cc}


INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("no model", {"max_tokens": 5, "messages": USER_HI}, "model: Field required"),
    ("no max_tokens", {"model": MODEL, "messages": USER_HI}, "max_tokens: Field required"),
    ("empty messages", {"model": MODEL, "max_tokens": 5, "messages": []}, "at least one message"),
    (
        "assistant first",
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]},
        'first message must use the "user" role',
    ),
    (
        "two users in a row",
        {"model": MODEL, "max_tokens": 5, "messages": USER_HI + USER_HI},
        "roles must alternate",
    ),
    (
        "tool_use without tool_result",
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_a", "name": "t", "input": {}}],
                },
                {"role": "user", "content": "no result here"},
            ],
        },
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_a",
    ),
    (
        "bad tool name",
        {"model": MODEL, "max_tokens": 5, "messages": USER_HI, "tools": [_tool("bad name!")]},
        "tools.0.custom.name: String should match pattern",
    ),
    (
        "tool without input_schema",
        {"model": MODEL, "max_tokens": 5, "messages": USER_HI, "tools": [{"name": "t"}]},
        "tools.0.custom.input_schema: Field required",
    ),
    (
        "five cache breakpoints",
        {
            "model": MODEL,
            "max_tokens": 5,
            "system": [_cc_text("a"), _cc_text("b"), _cc_text("c")],
            "messages": [{"role": "user", "content": [_cc_text("d"), _cc_text("e")]}],
        },
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "1h after 5m",
        {
            "model": MODEL,
            "max_tokens": 5,
            "system": [_cc_text("a", "5m")],
            "messages": [{"role": "user", "content": [_cc_text("d", "1h")]}],
        },
        "a ttl='1h' cache_control block must not come after a ttl='5m'",
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b, e) for _, b, e in INVALID_BODIES],
    ids=[n for n, _, _ in INVALID_BODIES],
)
def test_validation_rejects_like_the_real_api(
    fake: FakeAnthropic, body: dict[str, Any], expected: str
) -> None:
    fake.enqueue(text("unused"))
    with make_client(fake) as client, pytest.raises(anthropic.BadRequestError) as exc_info:
        client.post("/v1/messages", cast_to=object, body=body)
    assert expected in str(exc_info.value.api_message)
    assert fake.history[0].reply_status == 400
    assert fake.pending == 1


def test_recorded_request_helpers() -> None:
    req = RecordedRequest(
        path="/v1/messages",
        headers={},
        body={
            "system": "plain system",
            "tools": [_tool("a"), _tool("b")],
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "a"}]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "result text"}],
                        },
                        {"type": "text", "text": "and a note"},
                    ],
                },
            ],
        },
        received_at=0.0,
    )
    assert req.system_text == "plain system"
    assert req.tool_names == ["a", "b"]
    assert req.last_user_text == "result text\nand a note"
    assert len(req.messages) == 3


# ----------------------------------------------------------------------------- prompt caching


def _cached_system(ttl: str | None = None) -> list[Any]:
    return [_cc_text(BIG_SYSTEM, ttl)]


def test_cache_write_then_read(cached_fake: FakeAnthropic) -> None:
    system_tokens = prompt_tokens({"system": BIG_SYSTEM})
    rest = prompt_tokens({"messages": USER_HI})
    assert system_tokens > 5000
    with make_client(cached_fake) as client:
        first = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=USER_HI
        )
        second = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=USER_HI
        )
    history = cached_fake.history
    total = prompt_tokens(history[0].body)
    assert total == system_tokens + rest

    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation_input_tokens == total - rest == system_tokens
    assert first.usage.input_tokens == rest
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == system_tokens

    assert second.usage.cache_read_input_tokens == system_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == rest
    assert usage_adds_up(first, history[0]) and usage_adds_up(second, history[1])
    assert cached_fake.cache_entries() == 1
    totals = cached_fake.totals
    assert totals.cache_read_input_tokens == system_tokens
    assert totals.cache_creation_input_tokens == system_tokens
    assert totals.total_input_tokens == 2 * total


def test_cache_expires_after_5_minutes_and_hits_refresh_it(
    cached_fake: FakeAnthropic, clock: FakeClock
) -> None:
    def call(client: Anthropic) -> anthropic.types.Message:
        return client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=USER_HI
        )

    with make_client(cached_fake) as client:
        call(client)  # write at t=0
        clock.advance(240)
        assert (call(client).usage.cache_read_input_tokens or 0) > 0  # hit refreshes to t=540
        clock.advance(240)
        assert (call(client).usage.cache_read_input_tokens or 0) > 0  # t=480: still live
        clock.advance(301)
        assert cached_fake.cache_entries() == 0
        expired = call(client)
    assert expired.usage.cache_read_input_tokens == 0
    assert expired.usage.cache_creation_input_tokens == prompt_tokens({"system": BIG_SYSTEM})
    assert cached_fake.cache_entries() == 1


def test_cache_with_1h_ttl_survives_30_minutes(
    cached_fake: FakeAnthropic, clock: FakeClock
) -> None:
    with make_client(cached_fake) as client:
        first = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system("1h"), messages=USER_HI
        )
        clock.advance(30 * 60)
        later = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system("1h"), messages=USER_HI
        )
        clock.advance(3601)
        expired = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system("1h"), messages=USER_HI
        )
    assert first.usage.cache_creation is not None
    assert (
        first.usage.cache_creation.ephemeral_1h_input_tokens
        == first.usage.cache_creation_input_tokens
    )
    assert later.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert expired.usage.cache_read_input_tokens == 0


def test_mixed_ttls_split_cache_creation(cached_fake: FakeAnthropic) -> None:
    long_user = "Here is today's log. " * 300
    messages: list[Any] = [{"role": "user", "content": [_cc_text(long_user)]}]
    with make_client(cached_fake) as client:
        msg = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system("1h"), messages=messages
        )
    system_tokens = prompt_tokens({"system": BIG_SYSTEM})
    assert msg.usage.cache_creation is not None
    assert msg.usage.cache_creation.ephemeral_1h_input_tokens == system_tokens
    assert msg.usage.cache_creation.ephemeral_5m_input_tokens == prompt_tokens(
        {"messages": [{"role": "user", "content": long_user}]}
    )
    assert msg.usage.input_tokens == 0
    assert usage_adds_up(msg, cached_fake.history[0])
    assert cached_fake.cache_entries() == 2


def test_growing_conversation_reads_previous_prefix(cached_fake: FakeAnthropic) -> None:
    """Each turn moves the breakpoint to the newest block; the lookback finds the old one."""
    cached_fake.on_empty = text("Noted, I will keep that in mind for the rest of the day.")
    conversation: list[dict[str, Any]] = []
    previous_total = 0
    with make_client(cached_fake) as client:
        for turn in range(6):
            conversation.append({"role": "user", "content": f"turn {turn}: something happened"})
            # Send a copy where only the last block carries cache_control.
            sent: list[Any] = [dict(m) for m in conversation]
            last_text = sent[-1]["content"]
            sent[-1] = {"role": "user", "content": [_cc_text(last_text)]}
            msg = client.messages.create(
                model=MODEL, max_tokens=50, system=BIG_SYSTEM, messages=sent
            )
            req = cached_fake.history[-1]
            total = prompt_tokens(req.body)
            assert usage_adds_up(msg, req)
            if turn == 0:
                assert msg.usage.cache_read_input_tokens == 0
            else:
                assert msg.usage.cache_read_input_tokens == previous_total
            assert msg.usage.cache_creation_input_tokens == total - previous_total
            assert msg.usage.input_tokens == 0
            previous_total = total
            conversation.append({"role": "assistant", "content": msg.content[0].text})  # type: ignore[union-attr]


@pytest.mark.parametrize(("extra_blocks", "hits"), [(20, True), (21, False)])
def test_lookback_is_limited_to_20_blocks(
    cached_fake: FakeAnthropic, extra_blocks: int, hits: bool
) -> None:
    first_blocks: list[Any] = [_cc_text("block 0")]
    later_blocks: list[Any] = [{"type": "text", "text": "block 0"}]
    later_blocks += [{"type": "text", "text": f"block {i}"} for i in range(1, extra_blocks)]
    later_blocks.append(_cc_text(f"block {extra_blocks}"))
    with make_client(cached_fake) as client:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            system=BIG_SYSTEM,
            messages=[{"role": "user", "content": first_blocks}],
        )
        msg = client.messages.create(
            model=MODEL,
            max_tokens=10,
            system=BIG_SYSTEM,
            messages=[{"role": "user", "content": later_blocks}],
        )
    first_prefix = prompt_tokens(cached_fake.history[0].body)
    assert msg.usage.cache_read_input_tokens == (first_prefix if hits else 0)
    assert usage_adds_up(msg, cached_fake.history[1])


def test_prefix_below_minimum_is_never_cached(cached_fake: FakeAnthropic) -> None:
    small_system: list[Any] = [_cc_text("You are terse. " * 40)]  # ~150 tokens
    with make_client(cached_fake) as client:
        for _ in range(2):
            msg = client.messages.create(
                model=MODEL, max_tokens=10, system=small_system, messages=USER_HI
            )
            assert msg.usage.cache_creation_input_tokens == 0
            assert msg.usage.cache_read_input_tokens == 0
            assert msg.usage.input_tokens == prompt_tokens(cached_fake.history[-1].body)
    assert cached_fake.cache_entries() == 0


def test_min_cacheable_tokens_is_configurable(clock: FakeClock) -> None:
    small_system: list[Any] = [_cc_text("You are terse. " * 40)]
    server = FakeAnthropic(clock=clock, min_cacheable_tokens=100, on_empty=text("ok"))
    with server, make_client(server) as client:
        for _ in range(2):
            msg = client.messages.create(
                model=MODEL, max_tokens=10, system=small_system, messages=USER_HI
            )
    assert (msg.usage.cache_read_input_tokens or 0) > 0


def test_cache_is_per_model_and_ignores_cache_control_placement(cached_fake: FakeAnthropic) -> None:
    with make_client(cached_fake) as client:
        client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=USER_HI
        )
        other = client.messages.create(
            model="claude-other", max_tokens=10, system=_cached_system(), messages=USER_HI
        )
        # Same prefix with a breakpoint further on: the lookback still finds the system entry.
        marked: list[Any] = [{"role": "user", "content": [_cc_text("hi")]}]
        moved = client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=marked
        )
    assert other.usage.cache_read_input_tokens == 0
    assert moved.usage.cache_read_input_tokens == prompt_tokens({"system": BIG_SYSTEM})


def test_top_level_cache_control_caches_the_whole_prompt(cached_fake: FakeAnthropic) -> None:
    with make_client(cached_fake) as client:
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "max_tokens": 10,
            "system": BIG_SYSTEM,
            "messages": USER_HI,
            "cache_control": {"type": "ephemeral"},
        }
        first = client.messages.create(**kwargs)
        second = client.messages.create(**kwargs)
    total = prompt_tokens(cached_fake.history[0].body)
    assert first.usage.cache_creation_input_tokens == total
    assert second.usage.cache_read_input_tokens == total


def test_stream_reports_cache_usage(cached_fake: FakeAnthropic) -> None:
    with make_client(cached_fake) as client:
        client.messages.create(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=USER_HI
        )
        with client.messages.stream(
            model=MODEL, max_tokens=10, system=_cached_system(), messages=USER_HI
        ) as stream:
            final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == prompt_tokens({"system": BIG_SYSTEM})
    assert final.usage.cache_creation_input_tokens == 0
