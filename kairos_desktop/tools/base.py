"""Tools as typed functions: a pydantic model for the input (the JSON schema the model sees is
generated from it), an async handler, and a registry that turns every failure into an error result
for the model. A tool called with wrong arguments never crashes the loop."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ..clock import Clock
from ..delivery.deliveries import Deliveries
from ..errors import KairosError
from ..journal import DailyLog
from ..paths import FolderPolicy
from ..settings import Settings

if TYPE_CHECKING:
    from ..memory.files import MemoryFiles
    from ..scheduler.runtime import Scheduler
    from .web import WebSource

log = logging.getLogger(__name__)

In = TypeVar("In", bound=BaseModel)


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    # Image blocks of the Messages API sent with the text (an MCP tool's screenshot).
    images: list[dict[str, Any]] = field(default_factory=list)


# The tools whose every effect is written with the call's id (TurnState.call_id) in the same
# write (the message's or the file's record): after a crash, Deliveries.done_by tells whether
# such a call ran. What other tools did in a crash cannot be known.
RECORDS_ITS_CALLS = frozenset({"SendUserMessage", "PushNotification", "SendUserFile"})


@dataclass
class TurnState:
    """What the tools of one turn decided, read by the loop after the tools ran."""

    sleep_seconds: float | None = None
    # The model's id of the tool call running now (set by the agent turn before each call):
    # what a delivery is recorded under, so a crash never makes it deliver twice.
    call_id: str | None = None
    sent_messages: int = 0
    actions: list[str] = field(default_factory=list)
    # The web pages this turn's replies cited or fetched (tools/web.py): a message or a report
    # that leaves them out gets them added.
    web_sources: list[WebSource] = field(default_factory=list)


@dataclass
class ToolContext:
    settings: Settings
    policy: FolderPolicy
    deliveries: Deliveries
    daily_log: DailyLog
    clock: Clock
    turn: TurnState = field(default_factory=TurnState)
    scheduler: Scheduler | None = None
    memory: MemoryFiles | None = None
    subscriptions: Any = None  # sources.github.PRSubscriptions when it runs
    # Told the path of every memory write (the dream tracks the files it touched).
    on_memory_write: Callable[[str], None] | None = None


Handler = Callable[[ToolContext, In], Awaitable[ToolResult]]


@dataclass
class Tool(Generic[In]):
    name: str
    description: str
    input_model: type[In]
    handler: Handler[In]

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "input_schema": _clean_schema(self.input_model.model_json_schema())}


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    cleaned = strip(schema)
    cleaned.setdefault("properties", {})
    return cleaned


ExternalCall = Callable[[str, dict[str, Any]], Awaitable["tuple[str, bool] | ToolResult"]]


@dataclass
class ToolProvider:
    """Tools defined elsewhere (an MCP server's), described by JSON schema: `definitions()`
    lists them for the model, `call(name, arguments)` runs one and returns (text, is_error) or
    a ToolResult (which may carry images)."""

    definitions: Callable[[], list[dict[str, Any]]]
    call: ExternalCall


class ToolRegistry:
    def __init__(self, tools: list[Tool[Any]]) -> None:
        self._tools = {t.name: t for t in tools}
        self._providers: list[ToolProvider] = []
        # The typed tools' schemas, built once: definitions() runs on every model call.
        self._static: list[dict[str, Any]] | None = None

    def add(self, tool: Tool[Any]) -> None:
        self._tools[tool.name] = tool
        self._static = None

    def add_provider(self, provider: ToolProvider) -> None:
        self._providers.append(provider)

    @property
    def names(self) -> list[str]:
        return list(self._tools) + [d["name"] for p in self._providers for d in p.definitions()]

    def definitions(self) -> list[dict[str, Any]]:
        if self._static is None:
            self._static = [t.definition() for t in self._tools.values()]
        return [*self._static, *(d for p in self._providers for d in p.definitions())]

    async def call(self, ctx: ToolContext, name: str, raw_input: Any) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            for provider in self._providers:
                if any(d["name"] == name for d in provider.definitions()):
                    try:
                        answer = await provider.call(
                            name, raw_input if isinstance(raw_input, dict) else {})
                    except Exception as exc:
                        log.exception("external tool %s failed", name)
                        return ToolResult(f"{name} failed: {exc!r}", is_error=True)
                    if isinstance(answer, ToolResult):
                        return answer
                    text, is_error = answer
                    return ToolResult(text, is_error=is_error)
            return ToolResult(
                f"There is no tool named {name!r}. Available tools: {', '.join(self._tools)}.",
                is_error=True,
            )
        try:
            args = tool.input_model.model_validate(raw_input if raw_input is not None else {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(input)'}: {e['msg']}" for e in exc.errors()
            )
            schema = json.dumps(tool.definition()["input_schema"]["properties"])
            return ToolResult(
                f"Invalid arguments for {name}: {problems}. Expected properties: {schema}. "
                "Call the tool again with corrected arguments.",
                is_error=True,
            )
        try:
            return await tool.handler(ctx, args)
        except KairosError as exc:
            return ToolResult(f"{name} failed: {exc}", is_error=True)
        except Exception as exc:
            log.exception("tool %s crashed", name)
            return ToolResult(f"{name} failed with an internal error: {exc!r}", is_error=True)
