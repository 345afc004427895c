"""The engine's visible state: what the tray, `kairos status` and the panel show."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# "budget": the daily budget is reached, no model call until midnight or a raise.
State = Literal["starting", "sleeping", "working", "offline", "no_api_key", "error", "paused",
                "budget", "stopped"]


@dataclass
class EngineStatus:
    state: State = "starting"
    sleeping_until: str | None = None  # ISO time; None while working or sleeping until an arrival
    session_id: str | None = None
    model: str | None = None
    detail: str = ""
    last_interaction: str | None = None
    turns: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"state": data["state"], "sleepingUntil": data["sleeping_until"],
                "sessionId": data["session_id"], "model": data["model"],
                "detail": data["detail"], "lastInteraction": data["last_interaction"],
                "turns": data["turns"]}
