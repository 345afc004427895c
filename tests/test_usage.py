"""What the user is shown a call cost: the published price of its model id, per token kind,
per prompt-size tier and per server-tool use; days and turns kept where they belong."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.history import History
from kairos_desktop.model_types import Usage
from kairos_desktop.prices import FAMILIES, TABLE, call_cost, lookup
from kairos_desktop.store import Store
from kairos_desktop.usage import UsageLedger

MTOK = 1_000_000


@pytest.mark.parametrize(("model", "inp", "out"), [
    ("claude-sonnet-5-5", 2.0, 10.0),
    ("claude-opus-5-5", 4.0, 20.0),
    ("claude-haiku-5-5", 0.10, 0.50),
    ("claude-opus-4-1-20250805", 15.0, 75.0),  # a dated snapshot of a listed id
    ("claude-3-5-haiku-latest", 0.80, 4.0),
])
def test_tokens_cost_the_models_list_price(model: str, inp: float, out: float) -> None:
    # 100,000 tokens: under every long-prompt tier, a tenth of the price per million.
    assert call_cost(model, Usage(input_tokens=MTOK // 10)) == pytest.approx(inp / 10)
    assert call_cost(model, Usage(output_tokens=MTOK // 10)) == pytest.approx(out / 10)
    assert lookup(model).exact


def test_cache_reads_and_both_cache_writes_have_their_own_price() -> None:
    # Opus 5.5: reads $0.20, 5-minute writes $5, 1-hour writes $8 per million.
    split = Usage(cache_read_tokens=MTOK, cache_write_tokens=2 * MTOK,
                  cache_write_5m_tokens=MTOK, cache_write_1h_tokens=MTOK)
    assert call_cost("claude-opus-5-5", split) == pytest.approx(0.20 + 5 + 8)
    # No breakdown from the API: the writes are priced at the TTL the request asked for.
    writes = Usage(cache_write_tokens=MTOK)
    assert call_cost("claude-opus-5-5", writes, cache_ttl="1h") == pytest.approx(8.0)
    assert call_cost("claude-opus-5-5", writes, cache_ttl="5m") == pytest.approx(5.0)


def test_haiku_5_5_prompts_over_100k_tokens_are_priced_at_the_higher_tier_throughout() -> None:
    short = Usage(input_tokens=60_000, cache_read_tokens=40_000, output_tokens=1_000)
    long = Usage(input_tokens=60_000, cache_read_tokens=40_001, output_tokens=1_000)
    assert call_cost("claude-haiku-5-5", short) == pytest.approx(
        (60_000 * 0.10 + 40_000 * 0.01 + 1_000 * 0.50) / MTOK)
    assert call_cost("claude-haiku-5-5", long) == pytest.approx(
        (60_000 * 0.50 + 40_001 * 0.05 + 1_000 * 2.50) / MTOK)


def test_web_searches_are_paid_per_search_and_fetches_only_as_tokens() -> None:
    assert call_cost("claude-sonnet-5-5", Usage(web_search_requests=3)) == pytest.approx(0.03)
    assert call_cost("claude-sonnet-5-5", Usage(web_fetch_requests=3)) == 0.0


def test_an_unknown_id_is_priced_as_its_familys_current_model_and_says_so() -> None:
    match = lookup("claude-sonnet-9-9")
    assert not match.exact and match.price.model == "claude-sonnet-5-5"
    assert "claude-sonnet-9-9" in (match.warning("claude-sonnet-9-9") or "")
    assert lookup("claude-opus-4-9").price.model == "claude-opus-5-5"  # not Opus 4's $15
    # No known family: the dearest current model's price, so a budget never under-counts.
    dearest = max(TABLE[m].rates.output for m in FAMILIES.values())
    assert lookup("claude-newfamily-1").price.rates.output == dearest
    assert lookup("claude-sonnet-5-5").warning("claude-sonnet-5-5") is None


def test_every_row_has_all_five_rates_and_cache_reads_are_cheaper_than_input() -> None:
    for price in TABLE.values():
        for rates in [price.rates] + ([price.long_prompt[1]] if price.long_prompt else []):
            assert 0 < rates.cache_read < rates.input < rates.cache_write_5m \
                < rates.cache_write_1h, price.model


def test_the_ledger_sums_a_day_per_model_and_counts_server_tool_uses(
        tmp_path: Path, clock: FakeClock) -> None:
    ledger = UsageLedger(Store(tmp_path / "store.json", owner=True), clock)
    ledger.record("claude-sonnet-5-5", Usage(input_tokens=MTOK, web_search_requests=2),
                  cache_ttl="5m")
    ledger.record("claude-haiku-5-5", Usage(output_tokens=MTOK), cache_ttl="5m")
    day = ledger.day()
    assert day["calls"] == 2 and day["webSearches"] == 2
    assert day["costUsd"] == pytest.approx(2.0 + 0.02 + 0.50)
    assert ledger.spent() == pytest.approx(2.52)
    clock.advance(86_400)
    assert ledger.day()["costUsd"] == 0 and len(ledger.days()) == 1


def test_turns_go_to_a_private_monthly_history_file_newest_first(
        tmp_path: Path, clock: FakeClock) -> None:
    history = tmp_path / "history" / "usage"
    ledger = UsageLedger(Store(tmp_path / "store.json", owner=True), clock,
                         History(tmp_path / "history", "usage"))
    ledger.record_turn({"caller": "turn", "calls": 2, "costUsd": 0.01, "tools": ["Sleep"]})
    clock.advance(60)
    ledger.record_turn({"caller": "dream", "calls": 5, "costUsd": 0.2, "tools": []})
    turns = ledger.turns()
    assert [t["caller"] for t in turns] == ["dream", "turn"]
    path = history / "2026-11.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.stat().st_mode) == 0o700
    with path.open("a") as f:
        f.write('{"caller": "cut sh')  # a crash mid-line
    ledger.record_turn({"caller": "turn", "calls": 1, "costUsd": 0.0, "tools": []})
    assert len(ledger.turns()) == 3
    assert all(json.loads(line) for line in path.read_text().splitlines())
