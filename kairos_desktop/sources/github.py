"""Pull-request subscriptions: poll the GitHub REST API and queue what happened on a PR.

Why polling: a desktop has no public address a webhook could reach. Polling stays cheap with
conditional requests: every endpoint is asked with the ETag of its last answer, and GitHub answers
304 Not Modified (free for an authenticated client's rate limit) until something changed. Each
subscription backs off while its PR is quiet (doubling from githubPollMinSeconds up to
githubPollMaxSeconds) and comes back to the minimum as soon as something happens.

Invariants:
- What was seen (review, comment and check-run ids, head sha, state) lives in the store's
  `subscriptions` table, written together with the ETags of the answers it came from and BEFORE
  the items are queued: a restart never re-announces an event (delivery is at most once; a crash
  between the two writes loses that event rather than repeating it).
- The first answer of each endpoint after subscribing is a baseline: recorded, never announced,
  so subscribing to a PR with 30 old reviews queues nothing.
- One rate-limit budget is shared by all subscriptions (it belongs to the token): once GitHub
  says it is spent, no request at all is sent before the reset time it gave.
- A failure (network, 5xx, 404, a malformed answer) is logged and retried with the quiet-PR
  backoff; it never ends the polling coroutine.
- Time is read and waited for only through the Clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from ..agent.queue import InboundItem
from ..clock import Clock, add_seconds, seconds_between
from ..errors import KairosError
from ..journal import DailyLog
from ..keys import usable_keyring
from ..settings import Settings
from ..store import Store

log = logging.getLogger(__name__)

TABLE = "subscriptions"
KEYRING_SERVICE = "kairos"
KEYRING_USER = "github"
USER_AGENT = "kairos-desktop"
API_VERSION = "2022-11-28"
PER_PAGE = 100  # GitHub's maximum page size: the fewest requests per list
MAX_PAGES_PER_POLL = 20  # bounds one poll of one list (2,000 new items)
SEEN_LIMIT = 1_000  # ids remembered per list; older ones live on pages no longer fetched
BODY_LIMIT = 500  # characters of a stranger's text in one item
COMMENTS_PER_ITEM = 5
REQUEST_TIMEOUT_S = 30.0
SECONDARY_LIMIT_WAIT_S = 60.0  # GitHub's advice when a secondary limit gives no Retry-After
MAX_RATE_LIMIT_WAIT_S = 3_600.0  # a primary window is one hour: a later reset is clock skew
ENDPOINTS = ("pull", "reviews", "comments", "checks")
ANNOUNCED_REVIEWS = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "requested changes on",
    "COMMENTED": "commented on",
}

# GitHub's rules: an owner is 1-39 alphanumerics or single hyphens; a repository name is up to
# 100 of [A-Za-z0-9._-] and never "." or "..". Validating them keeps request paths well formed.
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")

Doc = dict[str, Any]
# Aliases: inside PRSubscriptions, which has a method named `list`, `list[...]` would not mean
# the builtin to a type checker.
Docs = list[Doc]
Items = list[InboundItem]


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
    "github") when the keyring package is installed, else None (public repos, anonymously)."""
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


def subscription_key(repo: str, number: int) -> str:
    # GitHub names are case-insensitive: "Python/CPython" and "python/cpython" are one repo.
    return f"{repo.lower()}#{number}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _cut(text: object, limit: int = BODY_LIMIT) -> str:
    cleaned = str(text or "").replace("\r\n", "\n").strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _login(user: object) -> str:
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return user["login"]
    return "someone"


def _remember(ids: list[int], new: list[int]) -> list[int]:
    """The seen-id list with `new` added, sorted, keeping the most recent SEEN_LIMIT."""
    return sorted(set(ids) | set(new))[-SEEN_LIMIT:]


@dataclass
class _Answer:
    status: int  # 200 or 304; every other status raised
    etag: str | None
    data: Any  # the parsed JSON of a 200, None for a 304


@dataclass
class _Schedule:
    """When a subscription is next due, on the monotonic clock (not stored: after a restart
    every subscription is due at once and starts again at the minimum interval)."""

    interval: float
    due: float


@dataclass
class _Event:
    event: str
    text: str
    url: str
    review_id: int | None = None
    comments: list[Doc] = field(default_factory=list)  # review comments folded into a review


@dataclass
class _Poll:
    """One poll of one subscription: a working copy of its document and what it found."""

    doc: Doc
    events: list[_Event] = field(default_factory=list)
    changed: bool = False  # something new was recorded (announced or not): poll sooner

    @property
    def seen(self) -> Doc:
        seen: Doc = self.doc["lastSeen"]
        return seen

    @property
    def etags(self) -> dict[str, str]:
        etags: dict[str, str] = self.doc["etags"]
        return etags

    def recorded(self, endpoint: str) -> bool:
        return endpoint in self.seen["endpoints"]

    @property
    def ref(self) -> str:
        return f"{self.doc['repo']}#{self.doc['number']}"

    @property
    def label(self) -> str:
        title = self.doc.get("title")
        return f"{self.ref} “{_cut(title, 120)}”" if title else self.ref


def _normalise(doc: Doc) -> Doc:
    """A deep copy of a stored subscription with every field present (older documents lack
    some)."""
    work = copy.deepcopy({k: v for k, v in doc.items() if k != "_id"})
    work.setdefault("etags", {})
    work.setdefault("pages", {})
    work.setdefault("state", None)
    work.setdefault("title", None)
    work.setdefault("url", None)
    work.setdefault("lastError", None)
    work.setdefault("lastChangeAt", None)
    seen = work.setdefault("lastSeen", {})
    seen.setdefault("endpoints", [])
    seen.setdefault("headSha", None)
    seen.setdefault("checksSha", None)
    seen.setdefault("checksTotal", 0)
    for name in ("reviews", "comments", "checks"):
        seen.setdefault(name, [])
    return work


class PRSubscriptions:
    """Subscriptions to pull requests, polled by one coroutine on the running loop.

    `put` queues an item (InboundQueue.put); `settings` is read on every poll, so interval and
    URL changes apply without a restart. subscribe/unsubscribe may be called from any thread.
    """

    def __init__(self, *, store: Store, put: Callable[[InboundItem], Any], clock: Clock,
                 settings: Callable[[], Settings], token: str | None,
                 daily_log: DailyLog | None = None) -> None:
        self._store = store
        self._put = put
        self._clock = clock
        self._settings = settings
        self._token = token or None
        self._log = daily_log
        self._schedules: dict[str, _Schedule] = {}
        self._mutex = threading.Lock()  # guards _schedules against subscribe() from a thread
        self._blocked_until: datetime | None = None  # wall time the rate limit resets
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    # -- what the user and the model do --------------------------------------------------------

    def subscribe(self, repo: str, number: int) -> Doc:
        """Watch `repo`#`number`; the first poll (right away when running) records the PR as it
        is without announcing anything. Subscribing twice returns the existing subscription."""
        repo, number = validate_target(repo, number)
        key = subscription_key(repo, number)
        existing = self._store.find(TABLE, key=key)
        if existing:
            return _public(existing[0])
        doc = _normalise({
            "id": uuid.uuid4().hex[:12],
            "key": key,
            "repo": repo,
            "number": number,
            "createdAt": _iso(self._clock.now()),
        })
        self._store.insert(TABLE, doc)
        with self._mutex:
            self._schedules.pop(key, None)  # due at once
        self._note(f"subscribed to {repo}#{number}")
        self._poke()
        return _public(doc)

    def unsubscribe(self, repo: str, number: int) -> bool:
        """Stop watching; True when there was a subscription."""
        repo, number = validate_target(repo, number)
        key = subscription_key(repo, number)
        removed = self._store.remove(TABLE, key=key) > 0
        with self._mutex:
            self._schedules.pop(key, None)
        if removed:
            self._note(f"unsubscribed from {repo}#{number}")
            self._poke()
        return removed

    def list(self) -> Docs:
        """Every subscription as stored, oldest first, with `pollIntervalSeconds` and
        `nextPollInSeconds` (None before the first poll of this run)."""
        now = self._clock.monotonic()
        result: Docs = []
        for doc in sorted(self._store.all(TABLE), key=lambda d: str(d.get("createdAt", ""))):
            entry = _public(doc)
            with self._mutex:
                schedule = self._schedules.get(str(doc.get("key")))
            entry["pollIntervalSeconds"] = schedule.interval if schedule else None
            entry["nextPollInSeconds"] = max(0.0, schedule.due - now) if schedule else None
            result.append(entry)
        return result

    # -- running ---------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value or None

    async def start(self) -> None:
        """Start the polling coroutine on the running loop (once; a second call is a no-op)."""
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run(), name="github-pr-subscriptions")

    async def stop(self) -> None:
        """Stop polling and close the HTTP session (also the one poll_once opened). A poll cut
        short here loses nothing: state is written only between requests."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def poll_once(self, *, force: bool = False) -> int:
        """Poll every due subscription now (every one with `force`); returns the number of
        items queued. While the rate limit is spent, nothing is requested."""
        emitted = 0
        docs = sorted(self._store.all(TABLE), key=lambda d: str(d.get("createdAt", "")))
        keys = {str(d.get("key")) for d in docs}
        with self._mutex:
            for gone in set(self._schedules) - keys:
                del self._schedules[gone]
        for listed in docs:
            if self._rate_limited() is not None:
                break
            schedule = self._schedule_for(str(listed["key"]))
            if not force and schedule.due > self._clock.monotonic():
                continue
            # Read again: an earlier poll awaited, and this one may have been removed meanwhile.
            current = self._store.find(TABLE, key=listed["key"])
            if current:
                emitted += await self._poll(current[0])
        return emitted

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.poll_once()
                timeout = self._next_wait()
            except Exception:  # the store failed (or a bug): keep the loop alive, try later
                log.exception("GitHub polling failed; trying again later")
                timeout = float(self._settings().github_poll_min_seconds)
            await self._clock.wait(self._wake, timeout)

    def _next_wait(self) -> float | None:
        """Seconds until the next subscription is due, never before the rate-limit reset;
        None (wait for a subscribe) when there is nothing to poll."""
        keys = [str(d.get("key")) for d in self._store.all(TABLE)]
        if not keys:
            return None
        now = self._clock.monotonic()
        wait = min(max(0.0, self._schedule_for(k).due - now) for k in keys)
        blocked = self._rate_limited()
        if blocked is not None:
            wait = max(wait, seconds_between(self._clock.now(), blocked))
        return wait

    def _schedule_for(self, key: str) -> _Schedule:
        with self._mutex:
            schedule = self._schedules.get(key)
            if schedule is None:
                minimum = float(self._settings().github_poll_min_seconds)
                schedule = self._schedules[key] = _Schedule(minimum, self._clock.monotonic())
            return schedule

    def _reschedule(self, key: str, *, changed: bool) -> None:
        settings = self._settings()
        low = float(settings.github_poll_min_seconds)
        high = max(low, float(settings.github_poll_max_seconds))
        schedule = self._schedule_for(key)
        # Something new: look again soon. Quiet (or failing): twice as long, up to the maximum.
        schedule.interval = low if changed else min(max(schedule.interval * 2, low), high)
        schedule.due = self._clock.monotonic() + schedule.interval

    def _poke(self) -> None:
        """Wake the polling coroutine (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    # -- one subscription ------------------------------------------------------------------

    async def _poll(self, doc: Doc) -> int:
        work = _Poll(_normalise(doc))
        error: GitHubError | None = None
        try:
            await self._poll_pull(work)
            await self._poll_list(work, "reviews")
            await self._poll_list(work, "comments")
            await self._poll_checks(work)
        except GitHubError as exc:
            error = exc
        except Exception as exc:  # a bug must cost one subscription one poll, not the loop
            log.exception("polling %s failed", work.ref)
            error = GitHubRequestError(f"polling {work.ref} failed unexpectedly: {exc!r}")
        # What the endpoints before a failure found is kept: their ETags and ids go together.
        emitted = self._commit(doc, work, error)
        if isinstance(error, GitHubRateLimitError):
            # Not this PR's fault: due again as soon as the limit resets, interval unchanged.
            self._schedule_for(str(doc["key"])).due = self._clock.monotonic()
        else:
            self._reschedule(str(doc["key"]), changed=work.changed)
        return emitted

    def _commit(self, old: Doc, work: _Poll, error: GitHubError | None) -> int:
        doc = work.doc
        previous_error = doc.get("lastError")
        if error is not None and not isinstance(error, GitHubRateLimitError):
            doc["lastError"] = str(error)
        elif error is None:
            doc["lastError"] = None
        if work.changed:
            doc["lastChangeAt"] = _iso(self._clock.now())
        if doc["lastError"] != previous_error:
            if doc["lastError"]:
                log.warning("GitHub %s: %s", work.ref, doc["lastError"])
                self._note(f"{work.ref}: {doc['lastError']} (retrying later)")
            else:
                self._note(f"{work.ref}: polling works again")
        before = _normalise(old)
        if doc == before:
            return 0  # a quiet poll (only 304s) writes nothing: the store is one file
        # Keyed by the subscription's id: if it was removed (or removed and re-added) during
        # the poll, nothing is written and nothing is announced.
        if self._store.update(TABLE, copy.deepcopy(doc), id=doc.get("id"), key=doc["key"]) == 0:
            return 0
        emitted = 0
        for item in self._items(work):
            try:
                self._put(item)
                emitted += 1
            except Exception as exc:  # the queue's store failed: the event is lost, say so
                log.exception("could not queue a GitHub event for %s", work.ref)
                self._note(f"{work.ref}: an event could not be queued ({exc}): {item.text}")
        return emitted

    def _items(self, work: _Poll) -> Items:
        items: Items = []
        now = _iso(self._clock.now())
        for event in work.events:
            text = event.text
            if event.comments:
                text = f"{text}\n{_comment_lines(event.comments)}"
            items.append(InboundItem(
                kind="pr", text=f"{text}\n{event.url}", priority="next",
                source=f"github:{work.ref}", created_at=now, external=True, wakes=True,
                meta={"repo": work.doc["repo"], "number": work.doc["number"],
                      "event": event.event, "url": event.url}))
        return items

    async def _poll_pull(self, work: _Poll) -> None:
        answer = await self._get(
            f"/repos/{work.doc['repo']}/pulls/{work.doc['number']}", etag=work.etags.get("pull"),
            not_found=f"PR {work.ref} not found or not visible "
                      + ("to this token" if self._token else "without a token"))
        if answer.status == 304:
            return
        pr = answer.data
        try:
            head = str(pr["head"]["sha"])
            state = "merged" if pr.get("merged") else str(pr["state"])
            url = str(pr["html_url"])
            title = str(pr.get("title") or "")
        except (KeyError, TypeError, AttributeError) as exc:
            raise GitHubRequestError(f"GitHub's answer for {work.ref} is not a pull request "
                                     f"(missing {exc})") from exc
        seen = work.seen
        work.doc["title"], work.doc["url"] = title, url
        first = not work.recorded("pull")
        if not first:
            if head != seen["headSha"]:
                commits = pr.get("commits")
                total = f" ({commits} commits in all)" if isinstance(commits, int) else ""
                work.events.append(_Event(
                    "commits", f"New commits on {work.label}: the head is now {head[:7]}{total}.",
                    f"{url}/commits/{head}"))
            if state != work.doc["state"] and state == "merged":
                by = _login(pr.get("merged_by")) if pr.get("merged_by") else None
                work.events.append(_Event(
                    "merged", f"{work.label} was merged" + (f" by {by}." if by else "."), url))
            elif state != work.doc["state"] and state == "closed":
                work.events.append(_Event(
                    "closed", f"{work.label} was closed without being merged.", url))
            # closed -> open (reopened) is recorded without an item: nothing to act on yet.
        else:
            seen["endpoints"].append("pull")
        if first or head != seen["headSha"] or state != work.doc["state"]:
            work.changed = True
        seen["headSha"], work.doc["state"] = head, state
        work.etags["pull"] = answer.etag or ""

    async def _poll_list(self, work: _Poll, name: str) -> None:
        """Reviews or review comments. Both lists grow at the end (oldest first), so only the
        cursor page (the first one not full) is asked for, with its ETag; a full page moves the
        cursor on, an empty one (items were deleted) moves it back."""
        path = f"/repos/{work.doc['repo']}/pulls/{work.doc['number']}/{name}"
        page = int(work.doc["pages"].get(name, 1))
        etag = work.etags.get(name)
        cursor = (page, etag)
        came_from: str | None = None  # "below" after a full page, "above" after an empty one
        for _ in range(MAX_PAGES_PER_POLL):
            answer = await self._get(path, etag=etag, params={"per_page": PER_PAGE, "page": page},
                                     not_found=f"PR {work.ref} not found")
            if answer.status == 304:
                break
            if not isinstance(answer.data, list):
                raise GitHubRequestError(f"GitHub's answer for {path} is not a list")
            rows = [r for r in answer.data if isinstance(r, dict) and isinstance(r.get("id"), int)]
            if name == "reviews":
                self._take_reviews(work, rows)
            else:
                self._take_comments(work, rows)
            if len(answer.data) >= PER_PAGE:
                if came_from == "above":
                    break  # the empty page above this full one is the right cursor (kept)
                cursor, came_from = (page + 1, None), "below"
                page, etag = page + 1, None
                continue
            if not answer.data and page > 1 and came_from is None:
                cursor, came_from = (page, answer.etag), "above"
                page, etag = page - 1, None
                continue
            cursor = (page, answer.etag)
            break
        work.doc["pages"][name] = cursor[0]
        if cursor[1]:
            work.etags[name] = cursor[1]
        else:
            work.etags.pop(name, None)
        if not work.recorded(name):
            work.seen["endpoints"].append(name)
            work.changed = True

    def _take_reviews(self, work: _Poll, rows: Docs) -> None:
        seen = set(work.seen["reviews"])
        new: list[int] = []
        for review in rows:
            state = review.get("state")
            # A PENDING review is visible only to its author and not submitted yet: it is
            # announced (with the same id) once it is.
            if review["id"] in seen or state == "PENDING":
                continue
            new.append(review["id"])
            if not work.recorded("reviews") or state not in ANNOUNCED_REVIEWS:
                continue  # a baseline, or DISMISSED
            body = _cut(review.get("body"))
            if state == "COMMENTED" and not body:
                continue  # only carries review comments: those are announced themselves
            verb = ANNOUNCED_REVIEWS[str(state)]
            text = f"{_login(review.get('user'))} {verb} {work.label}" + \
                (f":\n{body}" if body else ".")
            work.events.append(_Event("review", text, str(review.get("html_url") or
                                                          work.doc.get("url") or ""),
                                      review_id=review["id"]))
        if new:
            work.seen["reviews"] = _remember(work.seen["reviews"], new)
            work.changed = True

    def _take_comments(self, work: _Poll, rows: Docs) -> None:
        seen = set(work.seen["comments"])
        fresh = [c for c in rows if c["id"] not in seen]
        if not fresh:
            return
        work.seen["comments"] = _remember(work.seen["comments"], [c["id"] for c in fresh])
        work.changed = True
        if not work.recorded("comments"):
            return
        # Comments submitted together (one review) make one event; those of a review announced
        # in this poll are folded into its item.
        reviews = {e.review_id: e for e in work.events if e.review_id is not None}
        groups: dict[object, Docs] = {}
        for comment in fresh:
            group = comment.get("pull_request_review_id") or f"comment-{comment['id']}"
            groups.setdefault(group, []).append(comment)
        for group, comments in groups.items():
            if group in reviews:
                reviews[group].comments.extend(comments)
                continue
            first = comments[0]
            who = _login(first.get("user"))
            url = str(first.get("html_url") or work.doc.get("url") or "")
            if len(comments) == 1:
                text = (f"{who} commented on {work.label} at {_where(first)}:\n"
                        f"{_cut(first.get('body'))}")
            else:
                text = (f"{who} left {len(comments)} review comments on {work.label}:\n"
                        f"{_comment_lines(comments)}")
            work.events.append(_Event("review_comment", text, url))

    async def _poll_checks(self, work: _Poll) -> None:
        seen = work.seen
        sha = seen["headSha"]
        if not sha:
            return  # the PR itself was never read: nothing to ask about yet
        if not _SHA.match(str(sha)):
            raise GitHubRequestError(f"GitHub gave {work.ref} a head sha that is not one: {sha!r}")
        if seen["checksSha"] != sha:
            # A new head: its check runs are all new (their ids were never seen).
            work.etags.pop("checks", None)
            seen["checksSha"], seen["checksTotal"] = sha, 0
            work.changed = True
        path = f"/repos/{work.doc['repo']}/commits/{sha}/check-runs"
        # The ETag covers page 1 only: with more runs than one page holds, ask for every page.
        etag = work.etags.get("checks") if seen["checksTotal"] <= PER_PAGE else None
        runs: Docs = []
        total = 0
        first_etag: str | None = None
        for page in range(1, MAX_PAGES_PER_POLL + 1):
            answer = await self._get(path, etag=etag if page == 1 else None,
                                     params={"per_page": PER_PAGE, "page": page},
                                     not_found=f"check runs of {work.ref} at {sha[:7]} not found")
            if answer.status == 304:
                return
            data = answer.data
            if not isinstance(data, dict) or not isinstance(data.get("check_runs"), list):
                raise GitHubRequestError(f"GitHub's answer for {path} holds no check_runs")
            if page == 1:
                first_etag = answer.etag
            total = int(data.get("total_count") or 0)
            runs += [r for r in data["check_runs"]
                     if isinstance(r, dict) and isinstance(r.get("id"), int)]
            if len(data["check_runs"]) < PER_PAGE or len(runs) >= total:
                break
        known = set(seen["checks"])
        done = [r for r in runs if r.get("status") == "completed" and r["id"] not in known
                and r.get("head_sha", sha) == sha]
        if work.recorded("checks"):
            for run in done:
                conclusion = str(run.get("conclusion") or "completed")
                work.events.append(_Event(
                    "check_run",
                    f"Check “{_cut(run.get('name'), 120)}” finished on {work.label}: "
                    f"{conclusion} (commit {sha[:7]}).",
                    str(run.get("html_url") or run.get("details_url") or work.doc.get("url"))))
        else:
            seen["endpoints"].append("checks")
            work.changed = True
        if done:
            seen["checks"] = _remember(seen["checks"], [r["id"] for r in done])
            work.changed = True
        seen["checksTotal"] = total
        if first_etag:
            work.etags["checks"] = first_etag

    # -- HTTP ------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        session = self._session
        loop = asyncio.get_running_loop()
        # A session belongs to the loop it was made on (tests run one loop per test).
        if session is None or session.closed or self._session_loop is not loop:
            self._session_loop = loop
            headers = {"Accept": "application/vnd.github+json",
                       "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            session = self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return session

    async def _get(self, path: str, *, etag: str | None, not_found: str,
                   params: dict[str, int] | None = None) -> _Answer:
        blocked = self._rate_limited()
        if blocked is not None:
            raise GitHubRateLimitError(
                f"GitHub's rate limit is spent until {self._local(blocked):%H:%M:%S}",
                until=blocked)
        base = self._settings().github_api_url.rstrip("/")
        headers = {"If-None-Match": etag} if etag else {}
        try:
            async with self._http().get(f"{base}{path}", headers=headers,
                                        params={k: str(v) for k, v in (params or {}).items()},
                                        allow_redirects=True) as response:
                self._note_budget(response)
                if response.status == 304:
                    return _Answer(304, etag, None)
                if response.status == 200:
                    try:
                        data = await response.json(content_type=None)
                    except ValueError as exc:
                        raise GitHubRequestError(
                            f"GitHub's answer for {path} is not JSON") from exc
                    return _Answer(200, response.headers.get("ETag"), data)
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
                hint = ("check the token's permissions" if self._token
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
        message = (f"GitHub rate limit reached ({_cut(why, 200)}): no GitHub request until "
                   f"{self._local(until):%H:%M:%S}")
        log.warning("%s", message)
        self._note(message)

    def _rate_limited(self) -> datetime | None:
        """The reset time while the rate limit is spent, else None."""
        if self._blocked_until is not None and self._clock.now() >= self._blocked_until:
            self._blocked_until = None
        return self._blocked_until

    # -- small helpers ---------------------------------------------------------------------

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self._clock.now().tzinfo)

    def _note(self, text: str) -> None:
        if self._log is not None:
            try:
                self._log.append("github", text)
            except OSError:
                log.exception("could not write the daily log")


def _public(doc: Doc) -> Doc:
    return {k: copy.deepcopy(v) for k, v in doc.items() if k != "_id"}


def _where(comment: Doc) -> str:
    path = str(comment.get("path") or "the diff")
    line = comment.get("line") or comment.get("original_line")
    return f"{path}:{line}" if line else path


def _comment_lines(comments: Docs) -> str:
    lines = [f"- {_login(c.get('user'))} at {_where(c)}: {_cut(c.get('body'))}"
             for c in comments[:COMMENTS_PER_ITEM]]
    if len(comments) > COMMENTS_PER_ITEM:
        lines.append(f"- and {len(comments) - COMMENTS_PER_ITEM} more comment(s)")
    return "\n".join(lines)


def _message(body: str) -> str:
    """GitHub's error message from an error body ({"message": ...}), else the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        return _cut(body, 200) or "no message"
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return _cut(data["message"], 200)
    return _cut(body, 200) or "no message"


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None
