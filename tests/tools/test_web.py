"""The web server tools as the settings offer them: off by default, the current versions when
on, domain lists checked before anything is written, uses capped per turn, sources cited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairos_desktop.errors import SettingsError
from kairos_desktop.settings import Settings, update_settings_file
from kairos_desktop.tools.web import (
    WebSource,
    limit_per_turn,
    refuses_server_tools,
    server_tools,
    sources,
    with_sources,
    without_server_tools,
)


def test_no_web_tool_is_offered_unless_switched_on() -> None:
    assert server_tools(Settings()) == []


def test_switched_on_they_are_the_current_versions_with_their_limits_and_domains() -> None:
    settings = Settings(web_search_enabled=True, web_fetch_enabled=True, web_search_max_uses=3,
                        web_allowed_domains=["Docs.Python.org", "example.com/blog/*"])
    search, fetch = server_tools(settings)
    assert search == {"type": "web_search_20260318", "name": "web_search", "max_uses": 3,
                      "allowed_domains": ["docs.python.org", "example.com/blog/*"]}
    assert fetch["type"] == "web_fetch_20260318" and fetch["max_uses"] == 5
    assert fetch["citations"] == {"enabled": True} and "blocked_domains" not in fetch


@pytest.mark.parametrize("bad", ["https://example.com", "*.example.com", "example",
                                 "exa mple.com", "example.com/*/*", 3])
def test_a_bad_domain_pattern_is_refused_naming_the_setting_and_nothing_is_written(
        tmp_path: Path, bad: object) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"webSearchEnabled": True}))
    with pytest.raises(SettingsError) as caught:
        update_settings_file(path, {"webBlockedDomains": ["ok.example.com", bad]})
    assert caught.value.key == "webBlockedDomains"
    assert str(caught.value).startswith("webBlockedDomains")
    assert json.loads(path.read_text()) == {"webSearchEnabled": True}


def test_both_domain_lists_at_once_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    update_settings_file(path, {"webAllowedDomains": ["docs.python.org"]})
    with pytest.raises(SettingsError, match="cannot be set together with webAllowedDomains"):
        update_settings_file(path, {"webBlockedDomains": ["example.com"]})


def test_a_negative_or_zero_budget_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for bad in (-1, 0, "5", True):
        with pytest.raises(SettingsError) as caught:
            update_settings_file(path, {"dailyBudgetUsd": bad})
        assert caught.value.key == "dailyBudgetUsd"
        assert str(caught.value).startswith("dailyBudgetUsd must be")
    assert not path.exists()
    assert update_settings_file(path, {"dailyBudgetUsd": None}).daily_budget_usd is None
    assert Settings().daily_budget_usd == 1.0


def _turn(*names: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "look it up"}]},
            {"role": "assistant", "content": [
                {"type": "server_tool_use", "id": f"srvtoolu_{i}", "name": name, "input": {}}
                for i, name in enumerate(names)]}]


def test_uses_are_capped_per_turn_and_a_first_call_sends_the_tools_unchanged() -> None:
    tools = [{"name": "Sleep", "input_schema": {}},
             *server_tools(Settings(web_search_enabled=True, web_fetch_enabled=True,
                                    web_search_max_uses=2, web_fetch_max_uses=2))]
    tools[-1] = {**tools[-1], "cache_control": {"type": "ephemeral"}}
    assert limit_per_turn(tools, _turn()[:1]) is tools
    after_one = limit_per_turn(tools, _turn("web_search"))
    assert [t.get("max_uses") for t in after_one] == [None, 1, 2]
    after_two = limit_per_turn(tools, _turn("web_search", "web_search", "web_fetch"))
    assert [(t["name"], t.get("max_uses")) for t in after_two] == [("Sleep", None),
                                                                    ("web_fetch", 1)]
    assert after_two[-1]["cache_control"] == {"type": "ephemeral"}


def test_only_a_refusal_naming_a_web_tool_counts_as_the_tools_refused() -> None:
    tools = [{"name": "Sleep", "input_schema": {}},
             {**server_tools(Settings(web_search_enabled=True))[0],
              "cache_control": {"type": "ephemeral"}}]
    assert refuses_server_tools(tools, "web_search is not enabled for this organization", 400)
    assert refuses_server_tools(tools, "The web search tool is not available", 403)
    assert not refuses_server_tools(tools, "prompt is too long", 400)
    assert not refuses_server_tools(tools, "web_search overloaded", 529)
    assert not refuses_server_tools(tools[:1], "web_search is not enabled", 400)
    assert without_server_tools(tools) == [{"name": "Sleep", "input_schema": {},
                                            "cache_control": {"type": "ephemeral"}}]


def test_the_sources_a_reply_cites_or_fetched_are_added_to_a_message_that_left_them_out() -> None:
    content = [
        {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1", "content": {
            "type": "web_fetch_result", "url": "https://example.com/rent",
            "content": {"type": "document", "title": "Rent rules",
                        "source": {"type": "text", "media_type": "text/plain", "data": "..."}}}},
        {"type": "text", "text": "Rents rose 3%.", "citations": [
            {"type": "web_search_result_location", "url": "https://news.example.org/a",
             "title": "Rents", "cited_text": "rose 3%", "encrypted_index": "x"}]},
    ]
    found = sources(content)
    assert found == [WebSource("https://example.com/rent", "Rent rules"),
                     WebSource("https://news.example.org/a", "Rents")]
    text = with_sources("Rents rose 3% (https://news.example.org/a).", found)
    assert text.endswith("Sources:\n- [Rent rules](https://example.com/rent)")
    assert with_sources("nothing from the web", []) == "nothing from the web"
