"""The GitHub REST client: conditional GETs with ETags, GitHub's rate limits, its errors.

Why its own object: the rate-limit budget belongs to the token, not to a PR, so one client is
shared by every subscription, and once GitHub says the budget is spent no request at all is sent
before the reset time it gave. Every endpoint is asked with the ETag of its last answer; GitHub
answers 304 Not Modified (free for an authenticated client) until something changed. Time is
read only through the Clock; the HTTP session is made on first use, on the loop that uses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from ...clock import Clock, add_seconds
from ...errors import KairosError
from ...keys import usable_keyring
from .render import cut

log = logging.getLogger(__name__)

KEYRING_SERVICE = "kairos"
KEYRING_USER = "github"
USER_AGENT = "kairos-desktop"
API_VERSION = "2022-11-28"
REQUEST_TIMEOUT_S = 30.0
SECONDARY_LIMIT_WAIT_S = 60.0  # GitHub's advice when a secondary limit gives no Retry-After
MAX_RATE_LIMIT_WAIT_S = 3_600.0  # a primary window is one hour: a later reset is clock skew

# GitHub's rules: an owner is 1-39 alphanumerics or single hyphens; a repository name is up to
# 100 of [A-Za-z0-9._-] and never "." or "..". Validating them keeps request paths well formed.
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class GitHubError(KairosError):
    """Talking to GitHub failed; the message says what happened and what to do."""


class InvalidSubscriptionError(GitHubError):
    """subscribe/unsubscribe got something that is not "owner/name" and a PR number."""


class PullRequestNotFoundError(GitHubError):
    """GitHub answered 404: the PR does not exist or this client may not see it."""


class GitHubRequestError(GitHubError):
    """A request failed (network, 5xx, 401/403, an answer that is not what GitHub sends)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubRateLimitError(GitHubError):
    """The rate limit is spent: no request may be sent before `until` (wall time)."""

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


def resolve_token(*, keyring: bool = True) -> str | None:
    """The GitHub token: $GITHUB_TOKEN, else the `keyring` entry (service "kairos", user
    "github") when the keyring package is installed, else None (public repos, anonymously).
    Blocking (a locked keyring may prompt): call it off the event loop."""
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if token:
        return token
    ring = usable_keyring() if keyring else None
    if ring is None:
        return None
    try:
        stored = ring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception as exc:  # backends raise their own types (KeyringError, D-Bus errors...)
        log.warning("could not read the GitHub token from the keyring: %s", exc)
        return None
    if not isinstance(stored, str) or not stored.strip():
        return None
    return stored.strip()


def validate_target(repo: str, number: int) -> tuple[str, int]:
    """("owner/name", number) as given, checked; raises InvalidSubscriptionError otherwise."""
    if not isinstance(repo, str):
        raise InvalidSubscriptionError(
            f"invalid repository {repo!r}: expected a string \"owner/name\", for example "
            "\"python/cpython\"")
    cleaned = repo.strip()
    owner, slash, name = cleaned.partition("/")
    if not slash or not _OWNER.match(owner) or not _NAME.match(name) or name in (".", ".."):
        raise InvalidSubscriptionError(
            f"invalid repository {repo!r}: expected \"owner/name\" as on GitHub, for example "
            "\"python/cpython\"")
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise InvalidSubscriptionError(
            f"invalid pull-request number {number!r}: expected a positive whole number (the "
            "123 in github.com/owner/name/pull/123)")
    return cleaned, number


@dataclass
class Answer:
    status: int  # 200 or 304; every other status raised
    etag: str | None
    data: Any  # the parsed JSON of a 200, None for a 304
    moved: bool = False  # GitHub answered 301 first (a renamed repository) and it was followed


class GitHubClient:
    """GETs against `api_url()` (read per request, so a changed githubApiUrl applies at once),
    with `token` when there is one. `note` writes one line to the daily log."""

    def __init__(self, *, clock: Clock, api_url: Callable[[], str],
                 note: Callable[[str], None], token: str | None = None) -> None:
        self._clock = clock
        self._api_url = api_url
        self._note = note
        self.token = token or None
        self._blocked_until: datetime | None = None  # wall time the rate limit resets
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        session = self._session
        loop = asyncio.get_running_loop()
        # A session belongs to the loop it was made on (tests run one loop per test).
        if session is None or session.closed or self._session_loop is not loop:
            self._session_loop = loop
            headers = {"Accept": "application/vnd.github+json",
                       "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
            session = self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return session

    async def get(self, path: str, *, etag: str | None, not_found: str,
                  params: dict[str, int] | None = None) -> Answer:
        blocked = self.rate_limited()
        if blocked is not None:
            raise GitHubRateLimitError(
                f"GitHub's rate limit is spent until {self._local(blocked):%H:%M:%S}",
                until=blocked)
        base = self._api_url().rstrip("/")
        headers = {"If-None-Match": etag} if etag else {}
        if self.token:  # per request: a token that arrives later applies to the next one
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self._http().get(f"{base}{path}", headers=headers,
                                        params={k: str(v) for k, v in (params or {}).items()},
                                        allow_redirects=True) as response:
                self._note_budget(response)
                moved = any(r.status == 301 for r in response.history)
                if response.status == 304:
                    return Answer(304, etag, None, moved)
                if response.status == 200:
                    try:
                        data = await response.json(content_type=None)
                    except ValueError as exc:
                        raise GitHubRequestError(
                            f"GitHub's answer for {path} is not JSON") from exc
                    return Answer(200, response.headers.get("ETag"), data, moved)
                text = await response.text(errors="replace")
                raise self._failure(response, _message(text), path, not_found)
        except aiohttp.ClientError as exc:
            raise GitHubRequestError(f"could not reach {base}: {exc or type(exc).__name__}; "
                                     "retrying later") from exc
        except TimeoutError as exc:
            raise GitHubRequestError(
                f"{base} did not answer within {REQUEST_TIMEOUT_S:.0f} s; retrying later") from exc

    def _failure(self, response: aiohttp.ClientResponse, message: str, path: str,
                 not_found: str) -> GitHubError:
        status = response.status
        headers = response.headers
        if status in (403, 429):
            retry_after = _number(headers.get("Retry-After"))
            spent = headers.get("X-RateLimit-Remaining") == "0"
            if retry_after is not None:
                until = add_seconds(self._clock.now(), retry_after)
            elif spent:
                until = self._reset_time(headers) or add_seconds(self._clock.now(),
                                                                 SECONDARY_LIMIT_WAIT_S)
            elif status == 429 or "rate limit" in message.lower():
                until = add_seconds(self._clock.now(), SECONDARY_LIMIT_WAIT_S)  # secondary
            else:
                hint = ("check the token's permissions" if self.token
                        else "a token (GITHUB_TOKEN) may be needed")
                return GitHubRequestError(f"GitHub refused {path} (403: {message}); {hint}",
                                          status=status)
            self._block(until, message)
            return GitHubRateLimitError(
                f"GitHub's rate limit is spent ({message}); no request before "
                f"{self._local(until):%H:%M:%S}", until=until)
        if status == 401:
            return GitHubRequestError(
                f"GitHub rejected the token (401: {message}): set a valid GITHUB_TOKEN (or "
                "remove it to poll public repositories anonymously)", status=status)
        if status == 404:
            return PullRequestNotFoundError(not_found)
        if status >= 500:
            return GitHubRequestError(f"GitHub answered {status} for {path}; retrying later",
                                      status=status)
        return GitHubRequestError(f"GitHub answered {status} for {path}: {message}",
                                  status=status)

    # -- the rate limit --------------------------------------------------------------------

    def _note_budget(self, response: aiohttp.ClientResponse) -> None:
        """An answer that spent the last request of the window: wait for the reset too, rather
        than send a request GitHub would refuse (a refusal itself is handled by _failure)."""
        if response.status not in (403, 429) and \
                response.headers.get("X-RateLimit-Remaining") == "0":
            until = self._reset_time(response.headers)
            if until is not None:
                self._block(until, "the last request of this window was used")

    def _reset_time(self, headers: Any) -> datetime | None:
        reset = _number(headers.get("X-RateLimit-Reset"))
        if reset is None:
            return None
        until = datetime.fromtimestamp(reset, UTC)
        latest = self._clock.now() + timedelta(seconds=MAX_RATE_LIMIT_WAIT_S)
        return min(until, latest).astimezone(self._clock.now().tzinfo)

    def _block(self, until: datetime, why: str) -> None:
        if self._blocked_until is not None and self._blocked_until >= until:
            return
        self._blocked_until = until
        message = (f"GitHub rate limit reached ({cut(why, 200)}): no GitHub request until "
                   f"{self._local(until):%H:%M:%S}")
        log.warning("%s", message)
        self._note(message)

    def rate_limited(self) -> datetime | None:
        """The reset time while the rate limit is spent, else None."""
        if self._blocked_until is not None and self._clock.now() >= self._blocked_until:
            self._blocked_until = None
        return self._blocked_until

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self._clock.now().tzinfo)


def _message(body: str) -> str:
    """GitHub's error message from an error body ({"message": ...}), else the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        return cut(body, 200) or "no message"
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return cut(data["message"], 200)
    return cut(body, 200) or "no message"


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None
