"""Settings: one validated pydantic model, stored as camelCase JSON in the home's settings.json.

A user edits this file by hand, through `kairos settings set` and the panel. A malformed file is
never replaced: loading reports which key is wrong, keeps the file as it is, and falls back to the
default only for that key (every default here is the safe choice). Writes go through
`update_settings_file`, which keeps keys it does not know (a newer version's) and writes atomically.

Types are strict (a bool is true or false, never "yes" or 1; an int is a whole number, never true
or 3.0; a number is finite): what is stored is exactly what was validated. Every validation error
reaches the user through one translator (`problem_text`), in words that name the key, never a
pattern or a pydantic phrase.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .atomic import atomic_write_text
from .errors import SettingsError

DEFAULT_MODEL = "claude-sonnet-5-5"
# The light tick's model: the cheapest current one (prices.py). "same" uses `model`; "off" sends
# every wake-up to the full turn (no light tick: an idle day re-reads the whole conversation).
DEFAULT_HEARTBEAT_MODEL = "claude-haiku-5-5"
SAME_MODEL = "same"
NO_LIGHT_TICK = "off"
# Anthropic model ids: "claude-" then lowercase words, digits, dots and dashes
# (claude-sonnet-5-5, claude-opus-4-1-20250805, claude-3-5-haiku-latest).
MODEL_PATTERN = r"^claude-[a-z0-9]+(?:[.-][a-z0-9]+)*$"


# A web domain for the server tools' allowed/blocked lists: a host of at least two labels, then
# optionally a path; at most one "*", only in the path.
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_DOMAIN = re.compile(rf"^{_HOST}(?:/[^\s*]*(?:\*[^\s*]*)?)?$")


def domain_pattern(text: object) -> str | None:
    """`text` as a domain pattern for the web tools (host lowercased), or None if it is not one
    (a scheme, a space, a * in the host or two of them)."""
    if not isinstance(text, str):
        return None
    host, slash, path = text.strip().partition("/")
    candidate = host.lower() + slash + path
    return candidate if _DOMAIN.match(candidate) else None


class QuietHours(BaseModel):
    """Local wall-clock times "HH:MM"; start after end means the span crosses midnight."""

    model_config = ConfigDict(extra="forbid", strict=True)

    start: str = Field(..., pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(..., pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ChannelServer(BaseModel):
    """One stdio MCP server, in the shape of an .mcp.json "mcpServers" entry (command, args and
    env as written: ${VAR}, ${VAR:-default} and ${CLAUDE_PLUGIN_ROOT} are expanded at each start,
    see sources/channels/plugins.py), plus what this app adds: whether its tools ask first, and
    the plugin it came from."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              strict=True)

    command: str = Field(..., min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    # "ask": every tool call waits for the user's approval; "allow": calls run without asking
    # (a file outside allowedFolders is refused either way). None: ask, except a channel's own
    # tools called without a local path.
    tools: Literal["ask", "allow"] | None = None
    # Set by `kairos plugins add`: the plugin's name, its folder (${CLAUDE_PLUGIN_ROOT}) and
    # its data folder (${CLAUDE_PLUGIN_DATA}).
    plugin: str | None = None
    plugin_root: str | None = None
    plugin_data: str | None = None


class WatchedFolder(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              strict=True)

    path: str = Field(..., min_length=1)
    # True: a change wakes the loop at once; False: it waits for the next tick.
    wake: bool = False
    ignore: list[str] = Field(default_factory=list)


class Settings(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", validate_assignment=True,
        strict=True, allow_inf_nan=False,
    )

    assistant_name: str = Field("Kairos", min_length=1, max_length=40)
    default_view: Literal["chat", "transcript"] = "chat"
    # The model may not sleep shorter than this: bounds the cost of a model that wakes too often.
    min_sleep_duration_ms: int = Field(60_000, ge=1_000)
    # -1 = sleep until something arrives. The default stays under the 1-hour prompt-cache TTL so
    # that an idle tick reads its whole prefix from cache.
    max_sleep_duration_ms: int = Field(3_300_000, ge=-1)
    auto_dream_enabled: bool = True
    channels_enabled: bool = False
    allowed_channel_plugins: list[str] = Field(default_factory=list)
    model: str = DEFAULT_MODEL
    # What answers a wake-up that brings nothing a person sent and no scheduled prompt (a plain
    # tick, folder changes, PR activity) on a small context, with Sleep or Act (agent/light.py):
    # a model id, "same" (the model setting) or "off" (every wake-up goes to the full turn).
    heartbeat_model: str = DEFAULT_HEARTBEAT_MODEL

    @field_validator("inbox_dir")
    @classmethod
    def _inbox_dir_is_absolute_or_null(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # empty: the default folder
        value = value.strip()
        # A relative folder would land wherever kairos happened to be started.
        if not Path(value).expanduser().is_absolute():
            raise ValueError("must be an absolute folder such as ~/Inbox or /home/you/Inbox "
                             f"(not {value!r}, which would depend on the folder kairos is "
                             "started in)")
        return value

    inbox_dir: str | None = None
    notifications_enabled: bool = True
    notify_statuses: list[Literal["normal", "proactive"]] = Field(
        default_factory=lambda: list[Literal["normal", "proactive"]](["proactive"])
    )
    allowed_folders: list[str] = Field(default_factory=list)
    max_tool_iterations: int = Field(20, ge=1, le=200)
    max_inbox_file_bytes: int = Field(100 * 1024 * 1024, ge=1)
    max_read_bytes: int = Field(200_000, ge=1_000)
    context_budget_tokens: int = Field(60_000, ge=5_000)
    presence_window_minutes: int = Field(10, ge=1)
    max_output_tokens: int = Field(4_096, ge=256, le=32_000)
    # A model call silent this long (no part of its answer yet, or none for that long) is given
    # up as "timed out" and tried again later; the user sees "offline" with the reason.
    model_timeout_seconds: int = Field(60, ge=1, le=600)
    # Non-urgent notifications are held in quiet hours and summarised when they end.
    quiet_hours: QuietHours | None = None
    notify_burst_limit: int = Field(3, ge=1, le=100)
    notify_burst_window_minutes: float = Field(10, gt=0, le=24 * 60)
    # Event sources (channels, pull requests, watched folders): each has its own switch.
    channel_servers: dict[str, ChannelServer] = Field(default_factory=dict)
    channel_rate_limit_per_minute: int = Field(20, ge=1, le=10_000)
    github_api_url: str = "https://api.github.com"
    github_poll_min_seconds: int = Field(60, ge=5)
    github_poll_max_seconds: int = Field(900, ge=5)
    watched_folders: list[WatchedFolder] = Field(default_factory=list)
    folder_debounce_seconds: float = Field(2.0, ge=0.05, le=600)
    # What the sources add to one tick, at most (characters); the rest is summarised.
    source_budget_chars: int = Field(4_000, ge=200, le=100_000)
    # IANA zone for cron times and ticks (e.g. "Europe/Paris"); None = the system's zone.
    time_zone: str | None = None
    recurring_max_age_ms: int = Field(7 * 24 * 3_600_000, ge=60_000)
    max_scheduled_tasks: int = Field(50, ge=1, le=100_000)
    # The memory part of the system prompt: MEMORY.md plus the recent log tail.
    memory_prompt_tokens: int = Field(3_000, ge=500, le=50_000)
    dream_min_hours: float = Field(24, ge=0)
    dream_min_sessions: int = Field(5, ge=0)
    # A dream that would shrink memory by more than this share stops and asks the user.
    dream_max_delete_share: float = Field(0.2, ge=0, le=1)
    dream_max_turns: int = Field(40, ge=1, le=500)
    # RunCommand: off by default; when on, every call waits for the user's Allow unless the
    # command starts with an allowlisted prefix. No answer within the timeout = denied.
    run_command_enabled: bool = False
    run_command_allowlist: list[str] = Field(default_factory=list)
    approval_timeout_seconds: int = Field(120, ge=5, le=24 * 3600)
    run_command_timeout_seconds: int = Field(60, ge=1, le=3600)
    run_command_max_output_bytes: int = Field(32_000, ge=1_000, le=1_000_000)
    # The hard daily budget of model calls, in US dollars for the local day (null: none). At
    # the cap no model call is made until midnight or until the user raises today's budget.
    daily_budget_usd: float | None = 1.0
    # The Messages API's server tools (they run on Anthropic's side, paid per use): off unless
    # switched on. Max uses are per agent turn; the domain lists are "example.com" or
    # "docs.example.com/api" (subdomains included, at most one * and only in the path), and
    # only one of the two lists may be set.
    web_search_enabled: bool = False
    web_fetch_enabled: bool = False
    web_search_max_uses: int = Field(5, ge=1, le=50)
    web_fetch_max_uses: int = Field(5, ge=1, le=50)
    web_allowed_domains: list[str] = Field(default_factory=list)
    web_blocked_domains: list[str] = Field(default_factory=list)

    @field_validator("daily_budget_usd")
    @classmethod
    def _budget_is_positive_or_null(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be an amount in US dollars above 0 such as 1.00, or null for "
                             f"no daily budget (not {value:g})")
        return value

    @field_validator("web_allowed_domains", "web_blocked_domains")
    @classmethod
    def _domains_are_patterns(cls, value: list[str]) -> list[str]:
        cleaned = []
        for entry in value:
            pattern = domain_pattern(entry)
            if pattern is None:
                raise ValueError(
                    "must hold domains like example.com or docs.example.com/api (no https://, "
                    f"no spaces, at most one * and only after the domain), not {entry!r}")
            cleaned.append(pattern)
        return cleaned

    @field_validator("web_blocked_domains")
    @classmethod
    def _one_domain_list_only(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("web_allowed_domains"):
            raise ValueError("cannot be set together with webAllowedDomains (the API takes one "
                             "list or the other); empty one of them")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"must be a time zone name such as 'Europe/Paris' ({value!r} is "
                             "not a known time zone)") from None
        return value

    @field_validator("model")
    @classmethod
    def _looks_like_a_model_id(cls, value: str) -> str:
        if not re.fullmatch(MODEL_PATTERN, value):
            raise ValueError(f"must be an Anthropic model id like {DEFAULT_MODEL!r} or "
                             f"'claude-opus-4-1-20250805' ({value!r} is not an Anthropic model id)")
        return value

    @field_validator("heartbeat_model")
    @classmethod
    def _heartbeat_model_is_a_model_id_same_or_off(cls, value: str) -> str:
        if value not in (SAME_MODEL, NO_LIGHT_TICK) and not re.fullmatch(MODEL_PATTERN, value):
            raise ValueError(f"must be an Anthropic model id like {DEFAULT_HEARTBEAT_MODEL!r}, "
                             f"\"same\" to use the model setting, or \"off\" to send every "
                             f"wake-up to the main model (not {value!r})")
        return value

    @property
    def light_tick(self) -> bool:
        """Whether quiet wake-ups go to the light tick first (heartbeatModel is not "off")."""
        return self.heartbeat_model != NO_LIGHT_TICK

    @property
    def heartbeat_model_id(self) -> str:
        """The model id the light tick calls: heartbeatModel, or `model` for "same"."""
        if self.heartbeat_model in (SAME_MODEL, NO_LIGHT_TICK):
            return self.model
        return self.heartbeat_model

    @field_validator("max_sleep_duration_ms")
    @classmethod
    def _max_sleep_is_minus_one_or_positive(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be -1 (sleep until something arrives) or a positive number")
        return value

    @model_validator(mode="after")
    def _sleep_bounds_are_ordered(self) -> Settings:
        bounded = self.max_sleep_duration_ms != -1
        if bounded and self.max_sleep_duration_ms < self.min_sleep_duration_ms:
            raise ValueError(
                "maxSleepDurationMs must be -1 or at least minSleepDurationMs "
                f"({self.min_sleep_duration_ms})"
            )
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    @classmethod
    def key_names(cls) -> list[str]:
        return [f.alias or name for name, f in cls.model_fields.items()]


@dataclass
class LoadedSettings:
    settings: Settings
    problems: list[str] = field(default_factory=list)
    # False when the file could not be parsed: writing would destroy the user's text.
    writable: bool = True


def _alias_for(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "(whole file)"
    first = str(loc[0])
    for name, f in Settings.model_fields.items():
        if first in (name, f.alias):
            return f.alias or name
    return first


# What a value looks like, for the errors about a list or an object of the wrong shape.
EXAMPLES = {
    "quietHours": '{"start": "22:00", "end": "07:00"}, or null for none',
    "watchedFolders": '[{"path": "~/Projects", "wake": true}]',
    "channelServers": '{"name": {"command": "npx", "args": ["some-mcp-server"]}}',
    "allowedFolders": '["~/Documents"]',
    "allowedChannelPlugins": '["slack"]',
    "runCommandAllowlist": '["git status"]',
    "notifyStatuses": '["proactive"]',
    "webAllowedDomains": '["docs.python.org", "example.com/blog"]',
    "webBlockedDomains": '["example.com"]',
}
# The words for a value that does not have the shape a pattern asks for, by field name.
PATTERN_WORDS = {"start": "must be a time like 22:00", "end": "must be a time like 07:00"}


def _where(loc: tuple[Any, ...]) -> str:
    """The key an error is about, as the user writes it: quietHours.start, watchedFolders[0]."""
    if not loc:
        return ""
    text = _alias_for(loc[:1])
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _shown(value: Any) -> str:
    """A value as it is written in settings.json (true, "yes", 3.0), cut short if long."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _predicate(err: Mapping[str, Any]) -> tuple[str, bool]:
    """What the value must be, in words, and whether to add what it was."""
    kind, ctx = str(err["type"]), err.get("ctx") or {}
    loc = err["loc"]
    example = EXAMPLES.get(_alias_for(loc[:1])) if len(loc) == 1 else None
    like = f", like {example}" if example else ""
    words: dict[str, str] = {
        "bool_type": "must be true or false",
        "int_type": "must be a whole number", "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number", "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "string_type": "must be text",
        "list_type": f"must be a list{like}",
        "dict_type": f"must be an object{like}", "model_type": f"must be an object{like}",
        "model_attributes_type": f"must be an object{like}",
    }
    if kind in words:
        return words[kind], True
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return ("must not be empty" if least == 1 else f"must be at least {least} characters",
                least != 1)
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters", False
    if kind == "string_pattern_mismatch":
        name = str(loc[-1]) if loc else ""
        return PATTERN_WORDS.get(name, "is not written the way it should be"), True
    bounds = {"greater_than_equal": ("ge", "must be at least"),
              "greater_than": ("gt", "must be more than"),
              "less_than_equal": ("le", "must be at most"),
              "less_than": ("lt", "must be less than")}
    if kind in bounds:
        name, phrase = bounds[kind]
        return f"{phrase} {_shown(ctx.get(name))}", True
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}", True
    if kind == "missing":
        return "is missing", False
    if kind == "extra_forbidden":
        return "is not a known field", False
    if kind in ("value_error", "assertion_error"):  # our own validators: already in words
        return str(ctx.get("error") or err["msg"]).removeprefix("Value error, "), False
    return "is not a value this setting can take", True


def problem_text(err: Mapping[str, Any]) -> str:
    """THE translator: one pydantic error as the user reads it, naming the key ("quietHours.start
    must be a time like 22:00 (not "25:00")"); a rule across fields says its own sentence."""
    where = _where(err["loc"])
    predicate, with_value = _predicate(err)
    if not where:
        return predicate
    text = f"{where} {predicate}"
    return f"{text} (not {_shown(err.get('input'))})" if with_value and "input" in err else text


def _default_of(key: str) -> str:
    """What loading uses instead of a bad value, in words."""
    default = Settings().to_json_dict().get(key)
    if default is None:
        return "it is left unset (the default)"
    return f"the default ({_shown(default)}) is in use"


def load_settings(path: Path) -> LoadedSettings:
    """Read settings.json; never raises for bad content, never rewrites the file."""
    if not path.exists():
        return LoadedSettings(Settings())
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return LoadedSettings(
            Settings(),
            [f"{path} is not valid JSON ({exc}); it was left as it is and defaults are in use. "
             "Fix the file (or delete it to start from defaults)."],
            writable=False,
        )
    if not isinstance(raw, dict):
        return LoadedSettings(
            Settings(),
            [f"{path} must hold a JSON object; it was left as it is and defaults are in use."],
            writable=False,
        )
    problems: list[str] = []
    known = set(Settings.key_names())
    for key in raw:
        if key not in known:
            problems.append(f"unknown key {key!r} in {path.name} was ignored")
    candidate = {k: v for k, v in raw.items() if k in known}
    # Drop invalid keys one round at a time: a bad key falls back to its default, the rest stay.
    for _ in range(len(candidate) + 1):
        try:
            return LoadedSettings(Settings.model_validate(candidate), problems)
        except ValidationError as exc:
            bad: set[str] = set()
            for err in exc.errors():
                key = _alias_for(err["loc"][:1]) if err["loc"] else None
                problems.append(
                    f"{problem_text(err)}; {_default_of(key)}"
                    if key is not None and key in candidate
                    else f"{problem_text(err)}; the defaults are in use"
                )
                if key is not None and key in candidate:
                    bad.add(key)
            if not bad:  # a cross-field rule failed: drop the keys it names
                bad = {k for k in ("minSleepDurationMs", "maxSleepDurationMs") if k in candidate}
            if not bad:
                break
            for key in bad:
                candidate.pop(key, None)
    return LoadedSettings(Settings(), problems)


def parse_cli_value(text: str) -> Any:
    """VALUE on the command line: JSON when it parses as JSON, otherwise the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def update_settings_file(path: Path, changes: dict[str, Any],
                         check: Callable[[Settings], None] | None = None) -> Settings:
    """Apply `changes` (camelCase or snake_case keys) to settings.json and write it atomically.

    Raises SettingsError naming the key when a key is unknown or a value is invalid, or when
    `check` (run on the validated result, before anything is written) raises it; the file is
    left unchanged in that case.
    """
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"{path} is not valid JSON ({exc}); fix it or delete it before changing settings"
            ) from exc
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path} must hold a JSON object; fix it or delete it")
        raw = loaded
    by_any_name = {}
    for name, f in Settings.model_fields.items():
        by_any_name[name] = f.alias or name
        by_any_name[f.alias or name] = f.alias or name
    known = set(Settings.key_names())
    # Validate the merged result with only the known, currently valid keys of the file.
    merged = dict(raw)
    for key, value in changes.items():
        alias = by_any_name.get(key)
        if alias is None:
            raise SettingsError(
                f"unknown setting {key!r}; known settings: {', '.join(sorted(known))}", key=key
            )
        merged[alias] = value
    current = load_settings(path).settings.to_json_dict() if path.exists() else {}
    candidate = {**current, **{by_any_name[k]: v for k, v in changes.items()}}
    try:
        settings = Settings.model_validate(candidate)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["loc"]:
            raise SettingsError(problem_text(err), key=_alias_for(err["loc"][:1])) from None
        # A rule across fields (the sleep bounds): name the field the user just changed.
        named = [by_any_name[k] for k in changes]
        key = next((k for k in ("maxSleepDurationMs", "minSleepDurationMs") if k in named),
                   named[0])
        raise SettingsError(problem_text(err), key=key) from None
    if check is not None:
        check(settings)
    atomic_write_text(path, json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    return settings


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def check_writable_folder(folder: Path, *, key: str) -> None:
    """Make `folder` (and its parents) and prove a file can be written in it; SettingsError
    naming `key` says why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kairos-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{key} must be a folder kairos can write in: cannot write in "
                            f"{folder} ({reason}); choose another one", key=key) from None
