"""Pull-request subscriptions: the source that polls GitHub and queues what happened on a PR.

Why polling: a desktop has no public address a webhook could reach. Polling stays cheap with
conditional requests (client.py), and each subscription backs off while its PR is quiet
(doubling from githubPollMinSeconds up to githubPollMaxSeconds), back to the minimum as soon as
something happens.

Invariants:
- What was seen lives in the store's `subscriptions` table, written together with the ETags of
  the answers it came from, and in the SAME store transaction as the items it queues
  (InboundQueue.put_many): an event is announced exactly once, a crash can neither lose it nor
  repeat it.
- A renamed repository (GitHub answers 301) is followed once: the subscription takes the name
  GitHub gives now (and the key that goes with it), so later polls pay no redirect.
- A failure (network, 5xx, 404, a malformed answer) is logged and retried with the quiet-PR
  backoff; it never ends the polling coroutine.
- The token may sit in the OS keyring, whose unlock prompt can take any time: it is read off the
  loop at the start of the polling coroutine, within a timeout, never in the constructor.
- Time is read and waited for only through the Clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tinydb import TinyDB

from ...clock import Clock, seconds_between
from ...journal import DailyLog
from ...queue import InboundItem
from ...settings import Settings
from ...store import Store
from ..base import BLOCKING_READ_TIMEOUT_S, PutMany, Source
from .client import (
    GitHubClient,
    GitHubError,
    GitHubRateLimitError,
    GitHubRequestError,
    validate_target,
)
from .diff import Poll, normalise
from .poll import poll_pr
from .render import to_items

log = logging.getLogger(__name__)

TABLE = "subscriptions"

Doc = dict[str, Any]
# Aliases: inside PRSubscriptions, which has a method named `list`, `list[...]` would not mean
# the builtin to a type checker.
Docs = list[Doc]
Items = list[InboundItem]


def subscription_key(repo: str, number: int) -> str:
    # GitHub names are case-insensitive: "Python/CPython" and "python/cpython" are one repo.
    return f"{repo.lower()}#{number}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class _Schedule:
    """When a subscription is next due, on the monotonic clock (not stored: after a restart
    every subscription is due at once and starts again at the minimum interval)."""

    interval: float
    due: float


class PRSubscriptions(Source):
    """Subscriptions to pull requests, polled by one coroutine on the running loop.

    `put` queues an item (InboundQueue.put). Settings come through apply_settings() only and are
    read on every poll, so interval and URL changes apply without a restart.
    subscribe/unsubscribe may be called from any thread.

    The token: `token` when given; else, with a `token_provider` (resolve_token), it is read at
    the start of polling, off the loop, within `token_timeout` seconds; else anonymous.
    """

    name = "github"

    def __init__(self, *, store: Store, put: Callable[[InboundItem], Any], clock: Clock,
                 token: str | None = None, daily_log: DailyLog | None = None,
                 token_provider: Callable[[], str | None] | None = None,
                 token_timeout: float = BLOCKING_READ_TIMEOUT_S,
                 put_many: PutMany | None = None) -> None:
        self._store = store
        self._put = put
        self._put_many = put_many
        self._clock = clock
        self._settings = Settings()
        self._log = daily_log
        self._token_provider = token_provider
        self._token_timeout = token_timeout
        self._reading_token = False
        self._client = GitHubClient(clock=clock, api_url=lambda: self.settings.github_api_url,
                                    note=self._note, token=token)
        self._schedules: dict[str, _Schedule] = {}
        self._mutex = threading.Lock()  # guards _schedules against subscribe() from a thread
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    # -- settings and the token ----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings in force (the last apply_settings())."""
        return self._settings

    def apply_settings(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def token(self) -> str | None:
        """The token in use (None: anonymous); never shown, only said present or absent."""
        return self._client.token

    def use_token(self, token: str | None) -> None:
        """A token the user just stored or removed (Settings): the next request uses it."""
        self._client.token = token or None

    async def _read_token(self) -> None:
        """The token from `token_provider`, off the loop: a locked keyring's unlock prompt
        holds the first poll, never the engine. A token set meanwhile wins."""
        if self.token is not None or self._token_provider is None:
            return
        self._reading_token = True
        try:
            async with asyncio.timeout(self._token_timeout):
                found = await asyncio.to_thread(self._token_provider)
        except TimeoutError:
            message = (f"the OS keyring did not answer within {self._token_timeout:g} s (is it "
                       "locked?); polling GitHub without the token (public repositories "
                       "only). Unlock it, then restart the app.")
            log.warning("%s", message)
            self._note(message, kind="error")
            return
        except Exception:  # a provider's bug must not end polling: poll anonymously
            log.exception("reading the GitHub token failed; polling without it")
            return
        finally:
            self._reading_token = False
        if self.token is None:
            self._client.token = found or None

    # -- what the user and the model do --------------------------------------------------------

    def subscribe(self, repo: str, number: int) -> Doc:
        """Watch `repo`#`number`; the first poll (right away when running) records the PR as it
        is without announcing anything. Subscribing twice returns the existing subscription."""
        repo, number = validate_target(repo, number)
        key = subscription_key(repo, number)
        existing = self._store.find(TABLE, key=key)
        if existing:
            return _public(existing[0])
        doc = normalise({
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

    def status(self) -> dict[str, Any]:
        """Running or not, whether a token is in use (never the token), the rate limit, and per
        subscription its state, last error and next poll."""
        blocked = self._client.rate_limited()
        token = "reading" if self._reading_token else "present" if self.token else "absent"
        return {
            "running": self._task is not None and not self._task.done(),
            "apiUrl": self.settings.github_api_url,
            "token": token,
            "rateLimitedUntil": _iso(blocked) if blocked is not None else None,
            "subscriptions": [
                {k: entry.get(k) for k in ("key", "repo", "number", "title", "url", "state",
                                           "lastError", "lastChangeAt", "pollIntervalSeconds",
                                           "nextPollInSeconds")}
                for entry in self.list()],
        }

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the polling coroutine on the running loop (once; a second call is a no-op).
        Returns at once: the token (when it must be read) is read by that coroutine."""
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
        await self._client.close()

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
            if self._client.rate_limited() is not None:
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
        await self._read_token()
        while True:
            self._wake.clear()
            try:
                await self.poll_once()
                timeout = self._next_wait()
            except Exception:  # the store failed (or a bug): keep the loop alive, try later
                log.exception("GitHub polling failed; trying again later")
                timeout = float(self.settings.github_poll_min_seconds)
            await self._clock.wait(self._wake, timeout)

    def _next_wait(self) -> float | None:
        """Seconds until the next subscription is due, never before the rate-limit reset;
        None (wait for a subscribe) when there is nothing to poll."""
        keys = [str(d.get("key")) for d in self._store.all(TABLE)]
        if not keys:
            return None
        now = self._clock.monotonic()
        wait = min(max(0.0, self._schedule_for(k).due - now) for k in keys)
        blocked = self._client.rate_limited()
        if blocked is not None:
            wait = max(wait, seconds_between(self._clock.now(), blocked))
        return wait

    def _schedule_for(self, key: str) -> _Schedule:
        with self._mutex:
            schedule = self._schedules.get(key)
            if schedule is None:
                minimum = float(self.settings.github_poll_min_seconds)
                schedule = self._schedules[key] = _Schedule(minimum, self._clock.monotonic())
            return schedule

    def _reschedule(self, key: str, *, changed: bool) -> None:
        settings = self.settings
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
        work = Poll(normalise(doc))
        error: GitHubError | None = None
        try:
            await poll_pr(self._client, work)
        except GitHubError as exc:
            error = exc
        except Exception as exc:  # a bug must cost one subscription one poll, not the loop
            log.exception("polling %s failed", work.ref)
            error = GitHubRequestError(f"polling {work.ref} failed unexpectedly: {exc!r}")
        # What the endpoints before a failure found is kept: their ETags and ids go together.
        emitted = self._commit(doc, work, error)
        key = str(work.doc["key"])  # the new one, when the repository was renamed
        if isinstance(error, GitHubRateLimitError):
            # Not this PR's fault: due again as soon as the limit resets, interval unchanged.
            self._schedule_for(key).due = self._clock.monotonic()
        else:
            self._reschedule(key, changed=work.changed)
        return emitted

    def _commit(self, old: Doc, work: Poll, error: GitHubError | None) -> int:
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
        if work.renamed_from is not None:
            self._rename(doc, work)
        if doc == normalise(old):
            return 0  # a quiet poll (only 304s) writes nothing: the store is one file
        items: Items = to_items(work.events, repo=doc["repo"], number=doc["number"],
                                ref=work.ref, now=_iso(self._clock.now()))
        stored = copy.deepcopy(doc)
        old_key = old["key"]

        def writes(db: TinyDB) -> None:
            # Keyed by the subscription's id: if it was removed (or removed and re-added) during
            # the poll, nothing is written and nothing is announced.
            table = db.table(TABLE, cache_size=0)
            if not table.update(stored, lambda d: d.get("id") == stored.get("id")
                                and d.get("key") == old_key):
                raise _Gone

        try:
            if self._put_many is not None:
                self._put_many(items, with_writes=writes)
            else:
                self._store.transact(writes)
                for item in items:
                    self._put(item)
        except _Gone:
            return 0
        except Exception as exc:  # the store failed: nothing was written, the next poll retries
            log.exception("could not store a poll of %s", work.ref)
            self._note(f"{work.ref}: what this poll found could not be stored ({exc}); it is "
                       "asked again at the next poll", kind="error")
            return 0
        return len(items)

    def _rename(self, doc: Doc, work: Poll) -> None:
        """GitHub gave the repository a new name: the subscription follows it (unless the user
        also follows the new name, which then stays the one subscription to it)."""
        key = subscription_key(doc["repo"], doc["number"])
        if any(d.get("id") != doc.get("id") for d in self._store.find(TABLE, key=key)):
            self._note(f"{work.renamed_from}#{doc['number']} is now {work.ref}, which is "
                       "subscribed to already; this subscription keeps the old name")
            doc["repo"] = work.renamed_from
            return
        old_key = str(doc["key"])
        doc["key"] = key
        with self._mutex:
            schedule = self._schedules.pop(old_key, None)
            if schedule is not None:
                self._schedules[key] = schedule
        self._note(f"{work.renamed_from}#{doc['number']} moved to {work.ref} (the repository was "
                   "renamed); the subscription follows the new name")

    def _note(self, text: str, *, kind: str = "github") -> None:
        if self._log is not None:
            try:
                self._log.append(kind, text)
            except OSError:
                log.exception("could not write the daily log")


class _Gone(Exception):
    """The subscription was removed while it was polled: write nothing, announce nothing."""


def _public(doc: Doc) -> Doc:
    return {k: copy.deepcopy(v) for k, v in doc.items() if k != "_id"}
