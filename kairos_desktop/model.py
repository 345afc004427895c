"""The model client: the only module that imports anthropic.

It turns SDK objects into the plain values of model_types.py (importable without anthropic), and
SDK errors into ModelUnavailableError with a `retryable` flag and a message for the user. The SDK
already retries 408/409/429/5xx and connection errors with backoff (honouring retry-after); what
it cannot recover from surfaces here, and the agent turn (agent/turn.py) decides when to try again.
"""

from __future__ import annotations

import os
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
                     max_tokens: int) -> ModelReply:
        try:
            async with self._client.messages.stream(
                model=model, system=system, tools=tools, messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
            ) as stream:
                message = await stream.get_final_message()
        except anthropic.APIStatusError as exc:
            raise _status_error(exc) from exc
        except anthropic.APITimeoutError as exc:
            raise ModelUnavailableError(
                "the model API did not answer in time", retryable=True
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise ModelUnavailableError(
                f"cannot reach the model API ({exc})", retryable=True
            ) from exc
        return _to_reply(message)

    async def close(self) -> None:
        await self._client.close()


def _status_error(exc: anthropic.APIStatusError) -> ModelUnavailableError:
    status = exc.status_code
    detail = _error_message(exc)
    if status == 401:
        text = ("the Anthropic API rejected the API key (401). Set a valid key in "
                "ANTHROPIC_API_KEY or with `kairos key set`.")
    elif status == 403:
        text = f"the API key may not use this model or feature (403): {detail}"
    elif status == 404:
        text = (f"the model API answered 404: {detail}. Check the `model` setting "
                "(`kairos settings set model <name>`).")
    elif status in RETRYABLE_STATUS:
        text = f"the model API is unavailable ({status}: {detail})"
    else:
        text = f"the model API refused the request ({status}): {detail}"
    return ModelUnavailableError(text, retryable=status in RETRYABLE_STATUS, status=status)


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc.message)


def _to_reply(message: Any) -> ModelReply:
    content: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            tool_input = block.input if isinstance(block.input, dict) else {}
            content.append({"type": "tool_use", "id": block.id, "name": block.name,
                            "input": tool_input})
            calls.append(ToolCall(block.id, block.name, tool_input))
    usage = message.usage
    return ModelReply(
        content=content,
        stop_reason=message.stop_reason,
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
        ),
        model=message.model,
        tool_calls=calls,
    )


__all__ = ["ModelClient", "ModelReply", "ToolCall", "Usage"]
