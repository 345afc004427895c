"""The model client: the only module that imports anthropic.

It turns SDK objects into the plain values of model_types.py (importable without anthropic), and
EVERY failure of a call into ModelUnavailableError with a `kind` naming what happened (refused,
unreachable, timed out, overloaded, rate limited, server error, broken reply, key rejected, not
allowed, unknown model, no credit) and a message for the user: an exception the SDK raises while
reading a body it cannot parse (a 200 cut short, an event stream that is not JSON) is a "broken
reply" like any other failure, never an AssertionError that ends the turn. A stream that ends
before its message_stop event is broken too: its half reply is never taken for an answer.

The SDK already retries 408/409/429/5xx and connection errors with backoff (honouring
retry-after); what it cannot recover from surfaces here, and the agent turn (agent/turn.py)
decides when to try again. `on_progress` is called for every event of the stream, so the turn
can tell a slow answer from a hung one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import anthropic

from .errors import ModelUnavailableError
from .model_types import ModelReply, ToolCall, Usage

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


class ModelClient:
    def __init__(self, api_key: str, *, base_url: str | None = None, max_retries: int = 2,
                 timeout: float = 120.0) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=max_retries,
            timeout=timeout,
        )

    async def create(self, *, model: str, system: list[dict[str, Any]],
                     tools: list[dict[str, Any]], messages: list[dict[str, Any]],
                     max_tokens: int, on_progress: Callable[[], None] | None = None
                     ) -> ModelReply:
        """One streamed call; raises ModelUnavailableError for every way it can fail."""
        try:
            async with self._client.messages.stream(
                model=model, system=system, tools=tools, messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
            ) as stream:
                ended = False
                async for event in stream:
                    if on_progress is not None:
                        on_progress()
                    ended = ended or event.type == "message_stop"
                message = await stream.get_final_message()
            if not ended:
                raise ModelUnavailableError(
                    "the model API sent a broken reply (its stream ended before the end of "
                    "the message)", kind="broken reply")
            return _to_reply(message)
        except ModelUnavailableError:
            raise
        except anthropic.APIStatusError as exc:
            raise _status_error(exc) from exc
        except anthropic.APITimeoutError as exc:
            raise ModelUnavailableError(
                "the model API did not answer in time", kind="timed out") from exc
        except anthropic.APIConnectionError as exc:
            raise ModelUnavailableError(
                f"the model API cannot be reached ({_cause(exc)})", kind="unreachable") from exc
        except Exception as exc:  # a body the SDK could not read, or what it never promised
            raise ModelUnavailableError(
                f"the model API sent a broken reply ({_describe(exc)})", kind="broken reply"
            ) from exc

    async def close(self) -> None:
        await self._client.close()


def _status_error(exc: anthropic.APIStatusError) -> ModelUnavailableError:
    status = exc.status_code
    detail = _error_message(exc)
    kind, text = _status_words(status, detail)
    return ModelUnavailableError(text, kind=kind, status=status)


def _status_words(status: int, detail: str) -> tuple[str, str]:
    """(kind, message) for an HTTP error answer."""
    if status == 401:
        return "key rejected", ("the Anthropic API rejected the API key (401). Set a valid key "
                                "in ANTHROPIC_API_KEY or with `kairos key set`.")
    if status == 402 or (status == 400 and "credit balance" in detail.lower()):
        return "no credit", (f"the Anthropic account has no credit left ({status}: {detail}). "
                             "Add credit at https://console.anthropic.com/settings/billing.")
    if status == 403:
        return "not allowed", f"the API key may not use this model or feature (403): {detail}"
    if status == 404:
        return "unknown model", (f"the model API answered 404: {detail}. Check the `model` "
                                 "setting (`kairos settings set model <name>`).")
    if status == 408:
        return "timed out", f"the model API timed out ({status}: {detail})"
    if status == 429:
        return "rate limited", f"the model API's rate limit was reached ({status}: {detail})"
    if status in (503, 529):
        return "overloaded", f"the model API is overloaded ({status}: {detail})"
    if status >= 500 or status in RETRYABLE_STATUS:
        return "server error", f"the model API had an internal error ({status}: {detail})"
    return "refused", f"the model API refused the request ({status}: {detail})"


def _cause(exc: BaseException) -> str:
    """The innermost reason of a connection error ("Connection refused"), not the SDK's
    generic "Connection error."."""
    inner: BaseException = exc
    for _ in range(10):  # a chain, not a cycle
        below = inner.__cause__ or inner.__context__
        if below is None:
            break
        inner = below
    return _describe(inner) if inner is not exc else (str(exc) or type(exc).__name__)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc.message)


# Blocks of the server tools (web search, web fetch): kept as the API sent them, because the
# next call must send them back unchanged (their encrypted parts included).
SERVER_BLOCKS = ("server_tool_use", "web_search_tool_result", "web_fetch_tool_result")


def _to_reply(message: Any) -> ModelReply:
    content: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            text: dict[str, Any] = {"type": "text", "text": block.text}
            if getattr(block, "citations", None):  # what a web search or fetch backs it with
                text["citations"] = [c.model_dump(mode="json", exclude_none=True)
                                     for c in block.citations]
            content.append(text)
        elif block.type == "tool_use":
            tool_input = block.input if isinstance(block.input, dict) else {}
            content.append({"type": "tool_use", "id": block.id, "name": block.name,
                            "input": tool_input})
            calls.append(ToolCall(block.id, block.name, tool_input))
        elif block.type in SERVER_BLOCKS:
            content.append(block.model_dump(mode="json", exclude_none=True))
    usage = message.usage
    servers = getattr(usage, "server_tool_use", None)
    writes = getattr(usage, "cache_creation", None)
    return ModelReply(
        content=content,
        stop_reason=message.stop_reason,
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
            cache_write_5m_tokens=getattr(writes, "ephemeral_5m_input_tokens", 0) or 0,
            cache_write_1h_tokens=getattr(writes, "ephemeral_1h_input_tokens", 0) or 0,
            web_search_requests=getattr(servers, "web_search_requests", 0) or 0,
            web_fetch_requests=getattr(servers, "web_fetch_requests", 0) or 0,
        ),
        model=message.model,
        tool_calls=calls,
    )


__all__ = ["ModelClient", "ModelReply", "ToolCall", "Usage"]
