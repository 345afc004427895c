"""The price list: what one model call costs, per model id, from Anthropic's published list prices.

Why one table per model id: the families' prices differ by generation (Opus 5.5 is $4/$20 where
Opus 5 was $5/$25, Haiku 5.5 is $0.10/$0.50 where Haiku 4.5 is $1/$5), so a row per family was
off by 50 % to 10x. Each row gives input, output, cache read and the 5-minute and 1-hour cache
writes, and where a model has one, the higher tier for long prompts. An id not in the table is
priced as its family's current model (`lookup` says so, and `kairos doctor` warns); an id of no
known family as the dearest current model, so a daily budget never under-counts.

Sources (read 2026-12-01, USD per million tokens):
- the models overview pages, platform.claude.com/docs/en/models/<model>/overview ("Pricing"):
  Opus 5.5 $4 / $20, 5m write $5, 1h write $8, cache read $0.20; Sonnet 5.5 $2 / $10, $2.50,
  $4; Haiku 5.5 $0.10 / $0.50, $0.125, $0.20, $0.01 for prompts up to 100K tokens and $0.50 /
  $2.50, $0.625, $1.00, $0.05 above (the whole request at the higher rate, output included);
  Opus 5 and Opus 4.5-4.8 $5 / $25, $6.25, $10, $0.50; Sonnet 5 $2 / $10, $2.50, $4, $0.20;
- the pricing page, platform.claude.com/docs/en/about-claude/pricing ("Model pricing", "Long
  context pricing"): Fable 5.1 / Mythos 5.1 $10 / $50, $12.50, $20, $0.25; Fable 5 / Mythos 5
  the same with $1 cache reads; Opus 4 / 4.1 $15 / $75; Sonnet 4 / 4.5 $3 / $15, above 200K
  input tokens $6 / $22.50; Haiku 3.5 $0.80 / $4; Haiku 3 $0.25 / $1.25.
Not found, and how each is filled in:
- Sonnet 5.5's cache read: the overview page as stored says $0.20; three price trackers that
  re-read the live page (2026-10-09 to 10-24) report a cut to $0.10 on 2026-10-07. $0.10 is used.
- Fable 5.2 ($8 / $40, from the models overview's comparison table): its cache rates were not
  found; the published multipliers are used (5m write 1.25x, 1h write 2x, cache read 0.1x input).
- Web search: $10 per 1,000 searches (the web search tool's documented fee; no newer figure was
  found). Web fetch: no per-fetch fee was found; fetched pages are paid as input tokens only.
Estimates for the user and for the daily budget, not a bill: the Batch API, fast mode and
data-residency multipliers do not apply to how this app calls the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model_types import Usage

SOURCE = ("platform.claude.com/docs/en/about-claude/pricing and the models overview pages, "
          "read 2026-12-01")
PRICES_DATE = "2026-12-01"
PER_TOKEN = 1 / 1_000_000

# The published cache multipliers of the input price, where a model's own figure is missing.
CACHE_WRITE_5M = 1.25
CACHE_WRITE_1H = 2.0
CACHE_READ = 0.1

# USD per server-tool use (usage.server_tool_use counts them).
WEB_SEARCH_USD = 10.0 / 1000
WEB_FETCH_USD = 0.0


@dataclass(frozen=True)
class Rates:
    """USD per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


def _rates(inp: float, out: float, write_5m: float | None = None, write_1h: float | None = None,
           read: float | None = None) -> Rates:
    return Rates(inp, out,
                 inp * CACHE_WRITE_5M if write_5m is None else write_5m,
                 inp * CACHE_WRITE_1H if write_1h is None else write_1h,
                 inp * CACHE_READ if read is None else read)


@dataclass(frozen=True)
class ModelPrice:
    model: str  # the table's id
    rates: Rates
    # (prompt tokens, rates): a request whose prompt (input + cache reads + cache writes) is
    # longer than that many tokens is priced at the second rates, all of it.
    long_prompt: tuple[int, Rates] | None = None

    def rates_for(self, prompt_tokens: int) -> Rates:
        if self.long_prompt is not None and prompt_tokens > self.long_prompt[0]:
            return self.long_prompt[1]
        return self.rates


def _price(model: str, rates: Rates, long_prompt: tuple[int, Rates] | None = None
           ) -> tuple[str, ModelPrice]:
    return model, ModelPrice(model, rates, long_prompt)


_OPUS_5 = _rates(5, 25, 6.25, 10, 0.50)
_OPUS_4 = _rates(15, 75, 18.75, 30, 1.50)
_SONNET_4 = _rates(3, 15, 3.75, 6, 0.30)
_SONNET_4_LONG = (200_000, _rates(6, 22.50))

TABLE: dict[str, ModelPrice] = dict([
    _price("claude-fable-5-2", _rates(8, 40)),
    _price("claude-fable-5-1", _rates(10, 50, 12.50, 20, 0.25)),
    _price("claude-mythos-5-1", _rates(10, 50, 12.50, 20, 0.25)),
    _price("claude-fable-5", _rates(10, 50, 12.50, 20, 1.0)),
    _price("claude-mythos-5", _rates(10, 50, 12.50, 20, 1.0)),
    _price("claude-opus-5-5", _rates(4, 20, 5, 8, 0.20)),
    _price("claude-opus-5", _OPUS_5),
    _price("claude-opus-4-8", _OPUS_5),
    _price("claude-opus-4-7", _OPUS_5),
    _price("claude-opus-4-6", _OPUS_5),
    _price("claude-opus-4-5", _OPUS_5),
    _price("claude-opus-4-1", _OPUS_4),
    _price("claude-opus-4", _OPUS_4),
    _price("claude-sonnet-5-5", _rates(2, 10, 2.50, 4, 0.10)),
    _price("claude-sonnet-5", _rates(2, 10, 2.50, 4, 0.20)),
    _price("claude-sonnet-4-6", _SONNET_4),
    _price("claude-sonnet-4-5", _SONNET_4, _SONNET_4_LONG),
    _price("claude-sonnet-4", _SONNET_4, _SONNET_4_LONG),
    _price("claude-3-7-sonnet", _SONNET_4),
    _price("claude-haiku-5-5", _rates(0.10, 0.50, 0.125, 0.20, 0.01),
           (100_000, _rates(0.50, 2.50, 0.625, 1.00, 0.05))),
    _price("claude-haiku-4-5", _rates(1, 5, 1.25, 2, 0.10)),
    _price("claude-3-5-haiku", _rates(0.80, 4, 1, 1.6, 0.08)),
    _price("claude-3-haiku", _rates(0.25, 1.25, 0.30, 0.50, 0.03)),
])

# An unknown id of a known family is priced as that family's current model.
FAMILIES: dict[str, str] = {"fable": "claude-fable-5-2", "mythos": "claude-mythos-5-1",
                            "opus": "claude-opus-5-5", "sonnet": "claude-sonnet-5-5",
                            "haiku": "claude-haiku-5-5"}
# No known family: the dearest current list price (a budget must not under-count).
UNKNOWN_FAMILY = "claude-fable-5-1"

# What may follow a table id in a model id: a snapshot date or "-latest".
_SUFFIX = re.compile(r"^(-\d{8}|-latest)?$")


@dataclass(frozen=True)
class PriceMatch:
    price: ModelPrice
    exact: bool  # the id (or a dated snapshot of it) is in the table

    def warning(self, model: str) -> str | None:
        if self.exact:
            return None
        return (f"{model!r} is not in the price table (kairos_desktop/prices.py, prices of "
                f"{PRICES_DATE}); its cost is estimated with {self.price.model}'s prices")


def lookup(model: str) -> PriceMatch:
    """The price row of `model`: its own (or its snapshot's), else its family's current one."""
    best: str | None = None
    for key in TABLE:
        fits = model.startswith(key) and _SUFFIX.match(model[len(key):])
        if fits and (best is None or len(key) > len(best)):
            best = key
    if best is not None:
        return PriceMatch(TABLE[best], exact=True)
    for family, key in FAMILIES.items():
        if re.search(rf"(^|-){family}(-|$)", model):
            return PriceMatch(TABLE[key], exact=False)
    return PriceMatch(TABLE[UNKNOWN_FAMILY], exact=False)


def cache_writes(usage: Usage, cache_ttl: str) -> tuple[int, int]:
    """(5-minute, 1-hour) cache-write tokens: the API's breakdown when it gave one, else all of
    them at the TTL the request asked for."""
    if usage.cache_write_5m_tokens or usage.cache_write_1h_tokens:
        return usage.cache_write_5m_tokens, usage.cache_write_1h_tokens
    if cache_ttl == "1h":
        return 0, usage.cache_write_tokens
    return usage.cache_write_tokens, 0


def call_cost(model: str, usage: Usage, *, cache_ttl: str = "5m") -> float:
    """USD for one call: its tokens at the model's rates for that prompt size, plus the fees
    of the server tools it used."""
    price = lookup(model).price
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    rates = price.rates_for(prompt)
    write_5m, write_1h = cache_writes(usage, cache_ttl)
    tokens = (usage.input_tokens * rates.input + usage.output_tokens * rates.output
              + usage.cache_read_tokens * rates.cache_read + write_5m * rates.cache_write_5m
              + write_1h * rates.cache_write_1h) * PER_TOKEN
    return tokens + tool_fees(usage)


def tool_fees(usage: Usage) -> float:
    return usage.web_search_requests * WEB_SEARCH_USD + usage.web_fetch_requests * WEB_FETCH_USD


__all__ = ["TABLE", "ModelPrice", "PriceMatch", "Rates", "call_cost", "lookup", "tool_fees"]
