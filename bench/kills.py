"""Is a message answered exactly once when the app is killed (`kill -9`) at any moment of its turn?

Why (issue SURVIVE): the app is always on, so it will be killed mid-turn (a crash, the OOM
killer, a power cut, a logout that does not wait). A kill between a delivery (SendUserMessage
wrote the answer to the outbox) and the storing of the turn used to make the next start hand the
same message to the model again, which answered it a second time: before the fix, 40 kills gave
12 messages answered twice (and 0 never answered). Now a reply's turn is stored (and its items
acked) before its tools run, every delivery records its call's id, and the next start answers a
cut turn's calls from what they left ("Done before the app restarted: delivered ...", "Not done:
the app stopped ...", "Interrupted: the app stopped ..."; agent/resume.py `resume_answers`;
a start goes on in the session whose turn was cut, `session_to_continue`). This bench kills
the real app at random moments and counts.

How: one temp home, a real `kairos run --headless` subprocess whose model is FakeAnthropic
(tests/fakes/anthropic_server.py) served from this process. Each round (`--kills`, default 40,
from `--seed`) writes one user message carrying a unique marker, through the control API (what
`kairos send` does) or, in about a quarter of the rounds, into the queue while the app is down
(the previous round's kill left it down). The fake answers with SendUserMessage quoting the
marker, alone or with a second call in the same reply (RunCommand, with runCommandEnabled, which
waits for the user's approval; or ReadFile), then, once given the results, with a Sleep. Every
reply is held back a random 0-300 ms. The bench SIGKILLs the process at a moment aimed at, in
equal shares: just after the send (or during start-up, before the request reaches the fake);
while the fake holds its reply back; 0-8 ms after the reply (its turn being stored, its tools
starting); just after the delivery (the second call running, or the command waiting for
approval); during or just after the turn's next call (its results; the reply that Sleeps). Then
it starts the app again and lets it settle: asleep, nothing queued, nothing waiting for approval
(a command asking again after a restart is denied). Where each kill landed is decided afterwards,
from what the fake received before it and what the outbox holds: the next call follows a
delivery within milliseconds, so a kill aimed just after one mostly lands in that call.

The fake model's decision rule (`Model`), the one a sensible model follows, from what the request
carries and nothing else (it keeps no memory of its own between requests):

  * a light tick (the request offers Act) sleeps;
  * a SendUserMessage in the conversation quoting a marker answered it, unless its result says it
    did not go out ("Not done: ...", "Partly done: ..."); "Done before the app restarted" counts
    as answered, so it is never sent again;
  * a marker in the last user message's `<message from="user">` block (a message that just
    arrived) is answered with SendUserMessage unless the conversation already answered it; the
    round's second call, if any, goes in the same reply;
  * a result in the last user message saying a SendUserMessage was not done (or only partly) is
    answered by sending that message again (without the second call);
  * anything else (the results of a delivered answer, an interrupted command) is answered with a
    Sleep of 3000 s: a command the app says was interrupted is not run again.

So a message answered twice is the app's doing (it handed the message over again with nothing in
the conversation saying it was answered), never the script's; a message never answered is one
the app lost. Each start is a plain `kairos run` (no --continue), as after a reboot: it starts a
new session, or goes on in the last one when a kill cut its turn short.

Figures: the kills, where they landed, the rounds whose marker was answered 0 times / exactly once
/ more than once (the outbox read through `Outbox` on the home's Store once the app is stopped),
the hand-overs of a marker as a newly arrived message beyond the first (a kill before anything
reached the user replays the turn: expected; after its answer went out: a bug), how the cut calls
were answered on the next start (Done / Not done / Interrupted, each call once) and how many
requests carried such an answer again (a replay, after another kill, of the turn that carried
it; a resumed turn is stored even when it only sleeps, so no later tick resumes it again), the
items left in the queue or held, the
restarts that failed (did not come up, or did not settle within 60 s) and the wall time. It exits
0 unless `--check` is given, then 1 when a round was answered 0 or 2+ times. `--quick` does 10
kills (about 20 s); the default run takes about 80 s on 2 cores. `--verbose` prints each round.

Run from the repository root:  python -m bench.kills [--kills 40] [--seed 7] [--quick] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# `python bench/kills.py` puts bench/ (not the repository root) on sys.path; the fake server
# lives in tests/, so make the root importable either way.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from bench._common import BenchError  # noqa: E402
from kairos_desktop.clock import SystemClock  # noqa: E402
from kairos_desktop.delivery.outbox import Outbox  # noqa: E402
from kairos_desktop.errors import KairosError, NotRunningError  # noqa: E402
from kairos_desktop.queue import InboundItem, InboundQueue  # noqa: E402
from kairos_desktop.store import Store  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, Reply  # noqa: E402

SLEEP_S = 3000.0
MAX_DELAY_S = 0.3  # the fake holds each reply back uniform(0, this)
START_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 60.0
TRIGGER_TIMEOUT_S = 20.0
START_TRIES = 3
QUEUED_SHARE = 0.25
SECOND_CALLS = ("none", "none", "RunCommand", "ReadFile")  # in these shares: half alone
NOTES = "notes.txt"  # what ReadFile reads, in the workspace
UNDONE = ("Not done", "Partly done")  # a SendUserMessage result saying it did not go out
# How the app answers a cut turn's calls on the next start (agent/resume.py resume_answers).
RESUMED = ("Done before the app restarted", "Partly done", "Not done", "Interrupted")
ACT = "Act"  # the light tick's hand-over tool
NEW_MESSAGE = re.compile(r'<message from="user"[^>]*>\n(.*?)\n</message>', re.DOTALL)
MARKER = re.compile(r"kill-round-\d{3,}-[0-9a-f]{6}")

now = time.monotonic  # RecordedRequest.received_at is time.monotonic() in this process

# Where a kill landed, in the order of a turn.
BEFORE_REQUEST = "before the request reached the model"
WHILE_REPLYING = "while the model held its reply back"
BEFORE_DELIVERY = "after the reply, before the delivery"
AFTER_DELIVERY = "after the delivery (second call running or none)"
AWAITING_APPROVAL = "after the delivery, command awaiting approval"
NEXT_CALL = "during the turn's next call (its results)"
AFTER_LAST_REPLY = "after the turn's last reply (its Sleep)"
LANDINGS = (BEFORE_REQUEST, WHILE_REPLYING, BEFORE_DELIVERY, AFTER_DELIVERY, AWAITING_APPROVAL,
            NEXT_CALL, AFTER_LAST_REPLY)


# -- reading a request as the model sees it ----------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content
                       if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind]


def arrived(request: RecordedRequest) -> list[str]:
    """The markers in the last user message's newly arrived `<message from="user">` blocks (its
    text blocks only: a tool result quoting a message is not a message arriving)."""
    messages = request.messages
    if not messages or messages[-1].get("role") != "user":
        return []
    content = messages[-1].get("content")
    text = content if isinstance(content, str) else "".join(
        str(b.get("text", "")) for b in _blocks(messages[-1], "text"))
    return [m for body in NEW_MESSAGE.findall(text) for m in MARKER.findall(body)]


def _results(message: dict[str, Any]) -> dict[str, str]:
    return {str(b.get("tool_use_id")): _text(b.get("content"))
            for b in _blocks(message, "tool_result")}


def _answers(request: RecordedRequest) -> list[tuple[str, str]]:
    """(call id, marker) of every SendUserMessage in the conversation quoting a marker."""
    found: list[tuple[str, str]] = []
    for message in request.messages:
        if message.get("role") != "assistant":
            continue
        for use in _blocks(message, "tool_use"):
            if use.get("name") == "SendUserMessage":
                said = str((use.get("input") or {}).get("message", ""))
                found.extend((str(use.get("id")), m) for m in MARKER.findall(said))
    return found


def results_for(request: RecordedRequest, call_ids: set[str]) -> bool:
    """Whether the request's last message carries a result for one of `call_ids`."""
    messages = request.messages
    return bool(messages) and bool(call_ids & set(_results(messages[-1])))


# -- the fake model ----------------------------------------------------------------------------


@dataclass
class Served:
    """One reply of the fake model: to which request, held back how long, which answers."""

    request: RecordedRequest
    delay: float
    answers: dict[str, str]  # SendUserMessage call id -> marker
    decided_at: float  # time.time(): compared with the outbox's times


class Model:
    """FakeAnthropic's `on_empty`: the decision rule in the module docstring."""

    def __init__(self, rng: random.Random) -> None:
        self.second_call: dict[str, str] = {}  # marker -> "none" | "RunCommand" | "ReadFile"
        self.served: list[Served] = []
        # How the app answered each cut call on a start (call id -> the start of its result),
        # how many requests carried such a result again, and answers the model sent again
        # because of a "Not done" (or "Partly done").
        self.resumed: dict[str, str] = {}
        self.resumed_again = 0
        self.sent_again = 0
        self._rng = rng
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            delay = self._rng.uniform(0.0, MAX_DELAY_S)
        blocks, answers = self.decide(request)
        with self._lock:
            self.served.append(Served(request, delay, answers, time.time()))
        return Reply(content=tuple(blocks), stop_reason="tool_use", delay=delay)

    def decide(self, request: RecordedRequest) -> tuple[list[dict[str, Any]], dict[str, str]]:
        if ACT in request.tool_names:  # the light tick
            return [_use("Sleep", {"seconds": SLEEP_S})], {}
        results: dict[str, str] = {}
        for message in request.messages:
            if message.get("role") == "user":
                results.update(_results(message))
        calls = _answers(request)
        answered = {m for call, m in calls if not results.get(call, "").startswith(UNDONE)}
        last = _results(request.messages[-1]) if request.messages else {}
        for call, result in last.items():
            start = next((s for s in RESUMED if result.startswith(s)), None)
            if start is not None:
                with self._lock:
                    self.resumed_again += call in self.resumed
                    self.resumed.setdefault(call, start)
        resend = [m for call, m in calls if last.get(call, "").startswith(UNDONE)]
        new = [m for m in arrived(request) if m not in answered]
        todo = list(dict.fromkeys([*new, *(m for m in resend if m not in answered)]))
        if not todo:
            return [_use("Sleep", {"seconds": SLEEP_S})], {}
        blocks, answers = [], {}
        with self._lock:
            self.sent_again += sum(1 for m in todo if m not in new)
        for marker in todo:
            block = _use("SendUserMessage", {"message": f"Noted: {marker}.", "status": "normal"})
            answers[block["id"]] = marker
            blocks.append(block)
        for marker in new:
            second = self.second_call.get(marker, "none")
            if second == "RunCommand":
                blocks.append(_use("RunCommand", {"command": "ls"}))
            elif second == "ReadFile":
                blocks.append(_use("ReadFile", {"path": NOTES}))
        return blocks, answers

    def delay_of(self, request: RecordedRequest) -> float | None:
        with self._lock:
            for served in self.served:
                if served.request is request:
                    return served.delay
        return None

    def calls_for(self, marker: str) -> set[str]:
        with self._lock:
            return {c for s in self.served for c, m in s.answers.items() if m == marker}

    def decided_at(self, request: RecordedRequest) -> float | None:
        with self._lock:
            for served in self.served:
                if served.request is request:
                    return served.decided_at
        return None


def _use(name: str, input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name,
            "input": input}


# -- the app under test ------------------------------------------------------------------------


class App(_common.HeadlessEngine):
    """The app, killed and started again on the same home."""

    def _connect(self) -> Any:
        client = super()._connect()
        # A kill leaves run/control.json behind: only the new process's file counts.
        if client is None or self.proc is None or client.pid != self.proc.pid:
            return None
        return client

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def deny_approvals(self) -> int:
        pending = self.client.approvals()
        for approval in pending:
            with contextlib.suppress(KairosError):  # it may have ended meanwhile
                self.client.decide_approval(approval["id"], False, by="cli")
        return len(pending)

    def settled(self) -> bool:
        """Asleep after a turn, nothing queued, nothing waiting for approval (denied here)."""
        status = self.status()
        if status.get("state") in ("error", "offline", "no_api_key", "budget"):
            raise BenchError(f"the app is {status['state']}: {status.get('detail')}")
        if self.deny_approvals():
            return False
        return (status.get("state") == "sleeping" and status.get("turns", 0) >= 1
                and not self.client.queued())


@dataclass
class Figures:
    landings: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    failed_restarts: list[str] = field(default_factory=list)
    missed_triggers: int = 0


@dataclass
class Round:
    number: int
    marker: str
    second_call: str
    queued: bool
    target: str
    landing: str = ""


class Bench:
    def __init__(self, root: Path, fake: FakeAnthropic, model: Model, rng: random.Random,
                 kills: int) -> None:
        self.app = App(root, fake.base_url)
        settings = json.loads(self.app.home.settings_file.read_text(encoding="utf-8"))
        # No daily cap: the fake's token counts would reach the default $1 within the rounds.
        settings.update(runCommandEnabled=True, dailyBudgetUsd=None)
        self.app.home.settings_file.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        workspace = self.app.home.workspace_dir
        workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
        (workspace / NOTES).write_text("The bench's notes.\n", encoding="utf-8")
        self.fake = fake
        self.model = model
        self.rng = rng
        self.kills = kills
        self.figures = Figures()
        self.exit_after = 120.0 + 15.0 * kills  # the app's own safety net
        self.startup_s = 1.0  # launch -> control API, measured on the first start

    # -- starting and settling

    def start(self) -> None:
        """Start the app (tries START_TRIES times; a failed try is counted and killed)."""
        for attempt in range(START_TRIES):
            began = now()
            try:
                self.app.start(self.exit_after, timeout=START_TIMEOUT_S, poll=0.01)
                if attempt == 0 and self.figures.restarts == 0:
                    self.startup_s = now() - began
                return
            except (BenchError, KairosError) as exc:
                self.figures.failed_restarts.append(f"did not come up: {exc}")
                self.app.kill()
        raise BenchError(f"the app did not start in {START_TRIES} tries\n{self.app.log_tail()}")

    def settle(self) -> None:
        """Wait until the app settled; a start that does not is counted, killed and redone."""
        for _ in range(START_TRIES):
            try:
                _common.until("the app to settle (asleep, nothing queued)", self._settled,
                              SETTLE_TIMEOUT_S, self.app.check_alive, poll=0.01)
                return
            except (BenchError, KairosError) as exc:
                self.figures.failed_restarts.append(f"did not settle: {exc}\n"
                                                    f"{self.app.log_tail()}")
                self.app.kill()
                self.figures.restarts += 1
                self.start()
        raise BenchError(f"the app did not settle in {START_TRIES} starts")

    def _settled(self) -> bool:
        try:
            return self.app.settled()
        except NotRunningError:
            return False

    # -- one round

    def plan(self) -> list[Round]:
        """The rounds: second calls and aimed moments in equal shares, shuffled; a quarter of
        the messages queued while the app is down (never the first: the app is up then)."""
        n = self.kills
        seconds = [SECOND_CALLS[i % len(SECOND_CALLS)] for i in range(n)]
        aims = [i % 5 for i in range(n)]
        self.rng.shuffle(seconds)
        self.rng.shuffle(aims)
        queued = set(self.rng.sample(range(2, n + 1), min(n - 1, round(n * QUEUED_SHARE))))
        rounds = []
        for number, second, aim in zip(range(1, n + 1), seconds, aims, strict=True):
            middle = AWAITING_APPROVAL if second == "RunCommand" else AFTER_DELIVERY
            target = (BEFORE_REQUEST, WHILE_REPLYING, BEFORE_DELIVERY, middle, NEXT_CALL)[aim]
            marker = f"kill-round-{number:03d}-{self.rng.getrandbits(24):06x}"
            rounds.append(Round(number, marker, second, number in queued, target))
        return rounds

    def run_round(self, this: Round, next_queued: bool) -> None:
        self.model.second_call[this.marker] = this.second_call
        text = f"Please keep this in mind: {this.marker}."
        first = len(self.fake.history)
        if this.queued:  # the app is down: the message waits in the queue for the start
            store = Store(self.app.home.store_file)
            try:
                InboundQueue(store).put(InboundItem(kind="user", text=text))
            finally:
                store.close()
            self.figures.restarts += 1
            if this.target == BEFORE_REQUEST:  # killed during the start-up itself
                self.app.launch(self.exit_after)
                time.sleep(self.rng.uniform(0.0, self.startup_s + 0.2))
            else:
                self.start()
                self.trigger(this, first)
        else:
            self.app.client.send(text)
            self.trigger(this, first)
        killed_at = now()
        self.app.kill()
        this.landing = self.landing(this, first, killed_at)
        self.figures.landings[this.landing] += 1
        if not next_queued:
            self.start()
            self.figures.restarts += 1
            self.settle()

    def trigger(self, this: Round, first: int) -> None:
        """Wait for the round's target moment, plus a random bit of it; a moment that never
        comes (the app went another way) is counted and the kill happens anyway."""
        rng = self.rng
        try:
            if this.target == BEFORE_REQUEST:  # the send just returned: the item is queued
                time.sleep(rng.uniform(0.0, 0.004))
            elif this.target in (WHILE_REPLYING, BEFORE_DELIVERY):
                request = self._handover(this.marker, first)
                delay = self._delay(request)
                # Held back; or just after the reply: its turn being stored, its tools starting.
                _sleep_until(request.received_at + (rng.uniform(0.0, delay)
                             if this.target == WHILE_REPLYING else delay + rng.uniform(0, 0.008)))
            elif this.target in (AFTER_DELIVERY, AWAITING_APPROVAL):
                if this.target == AWAITING_APPROVAL:
                    _common.until("the command to wait for approval", self.app.client.approvals,
                                  TRIGGER_TIMEOUT_S, self.app.check_alive, poll=0.002)
                else:
                    _common.until("the answer in the outbox", lambda: self._delivered(this),
                                  TRIGGER_TIMEOUT_S, self.app.check_alive, poll=0.002)
                time.sleep(rng.uniform(0.0, 0.004))  # the turn's next call follows at once
            else:  # NEXT_CALL: the request carrying the answer's result, then its reply
                request = _common.until("the turn's next call",
                                        lambda: self._next_call(this, first),
                                        TRIGGER_TIMEOUT_S, self.app.check_alive, poll=0.002)
                delay = self._delay(request)
                _sleep_until(request.received_at + rng.uniform(0.0, delay + 0.05))
        except BenchError:
            self.figures.missed_triggers += 1

    def _handover(self, marker: str, first: int) -> RecordedRequest:
        def found() -> RecordedRequest | None:
            for request in self.fake.history[first:]:
                if marker in arrived(request):
                    return request
            return None
        request: RecordedRequest = _common.until(f"a request handing over {marker}", found,
                                                 TRIGGER_TIMEOUT_S, self.app.check_alive,
                                                 poll=0.002)
        return request

    def _delay(self, request: RecordedRequest) -> float:
        def decided() -> tuple[float] | None:
            delay = self.model.delay_of(request)
            return None if delay is None else (delay,)
        found: tuple[float] = _common.until("the fake's reply", decided, TRIGGER_TIMEOUT_S,
                                            poll=0.001)
        return found[0]

    def _delivered(self, this: Round) -> bool:
        return any(this.marker in str(m.get("text", "")) for m in self.app.client.messages(5))

    def _next_call(self, this: Round, first: int) -> RecordedRequest | None:
        if this.second_call == "RunCommand":
            self.app.deny_approvals()  # aimed past it: the turn goes on
        calls = self.model.calls_for(this.marker)
        for request in self.fake.history[first:]:
            if results_for(request, calls):
                return request
        return None

    def landing(self, this: Round, first: int, killed_at: float) -> str:
        """Where the kill landed, from what the fake received before it and the outbox."""
        before = [r for r in self.fake.history[first:] if r.received_at < killed_at]
        handed = [r for r in before if this.marker in arrived(r)]
        if not handed:
            return BEFORE_REQUEST
        last = handed[-1]
        if killed_at < last.received_at + (self.model.delay_of(last) or 0.0):
            return WHILE_REPLYING
        if not answers_to(outbox_records(self.app.home.store_file), this.marker):
            return BEFORE_DELIVERY
        calls = self.model.calls_for(this.marker)
        following = [r for r in before if results_for(r, calls)]
        if not following:
            # A command asks for approval as soon as it runs (denied only once the bench
            # aims further: then the next call is what follows).
            return AWAITING_APPROVAL if this.second_call == "RunCommand" else AFTER_DELIVERY
        request = following[-1]
        if killed_at < request.received_at + (self.model.delay_of(request) or 0.0):
            return NEXT_CALL
        return AFTER_LAST_REPLY


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - now()))


def outbox_records(store_file: Path) -> list[dict[str, Any]]:
    """Every message of the outbox, oldest first, through `Outbox` on the home's Store."""
    store = Store(store_file)
    try:
        outbox = Outbox(store, SystemClock())
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page, cursor = outbox.page(cursor)
            records.extend(page)
            if cursor is None:
                return records
    finally:
        store.close()


def _stamp(record: dict[str, Any]) -> float:
    """When an outbox record was written (its "at", to the microsecond), as time.time()."""
    return datetime.fromisoformat(str(record.get("at") or record["createdAt"])).timestamp()


def answers_to(records: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    return [r for r in records if marker in str(r.get("text", ""))]


def measure(kills: int, seed: int, progress: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(seed)
    model = Model(random.Random(seed + 1))
    began = now()
    with (tempfile.TemporaryDirectory(prefix="kairos-kills-") as tmp,
          FakeAnthropic(on_empty=model) as fake):
        bench = Bench(Path(tmp), fake, model, rng, kills)
        rounds = bench.plan()
        try:
            bench.start()
            bench.settle()
            for index, this in enumerate(rounds):
                next_queued = index + 1 < len(rounds) and rounds[index + 1].queued
                bench.run_round(this, next_queued)
                progress(f"  round {this.number:>3}: {'queued' if this.queued else 'sent':<6} "
                         f"+{this.second_call:<10} aimed {this.target!r}, killed {this.landing}")
            bench.app.check_alive()
        except (BenchError, KairosError, subprocess.TimeoutExpired) as exc:
            raise BenchError(f"{exc}\n{bench.app.log_tail()}") from None
        finally:
            bench.app.stop()
            bench.app.kill()
        home = bench.app.home
        records = outbox_records(home.store_file)
        store = Store(home.store_file)
        try:
            queue = InboundQueue(store)
            left, held = len(queue.pending()), len(queue.held())
        finally:
            store.close()
        history = fake.history
        answered: dict[str, int] = {}
        handed: dict[str, int] = {}
        handed_after: dict[str, int] = {}
        for this in rounds:
            mine = answers_to(records, this.marker)
            answered[this.marker] = len(mine)
            indexes = [i for i, r in enumerate(history) if this.marker in arrived(r)]
            handed[this.marker] = len(indexes)
            # Hand-overs once its first answer was in the outbox: the message was out, and
            # the app gave it to the model as new again.
            out = min((_stamp(r) for r in mine), default=math.inf)
            handed_after[this.marker] = sum(
                1 for i in indexes if (model.decided_at(history[i]) or 0.0) > out)
    return {"rounds": rounds, "figures": bench.figures, "answered": answered, "handed": handed,
            "handed_after": handed_after, "left": left, "held": held,
            "requests": len(history), "resumed": model.resumed,
            "resumed_again": model.resumed_again, "sent_again": model.sent_again,
            "wall_s": now() - began, "seed": seed}


def report(result: dict[str, Any]) -> tuple[str, bool]:
    rounds: list[Round] = result["rounds"]
    figures: Figures = result["figures"]
    answered: dict[str, int] = result["answered"]
    handed: dict[str, int] = result["handed"]
    after: dict[str, int] = result["handed_after"]
    resumed = Counter(result["resumed"].values())
    never = [r for r in rounds if answered[r.marker] == 0]
    once = [r for r in rounds if answered[r.marker] == 1]
    twice = [r for r in rounds if answered[r.marker] >= 2]
    again = [r for r in rounds if handed[r.marker] > 1]
    extra = sum(max(0, handed[r.marker] - 1) for r in rounds)
    ok = not never and not twice
    queued = sum(1 for r in rounds if r.queued)
    seconds = Counter(r.second_call for r in rounds)
    rows = [
        ("kills (SIGKILL mid-turn)", f"{len(rounds)}"),
        ("  messages sent / queued while down", f"{len(rounds) - queued} / {queued}"),
        ("  answers alone / +RunCommand / +ReadFile",
         f"{seconds['none']} / {seconds['RunCommand']} / {seconds['ReadFile']}"),
        *((f"  killed {label}", f"{figures.landings[label]}") for label in LANDINGS),
        ("rounds answered 0 times", f"{len(never)}"),
        ("rounds answered exactly once", f"{len(once)}"),
        ("rounds answered more than once", f"{len(twice)}"),
        ("rounds handed over as new more than once", f"{len(again)} ({extra} extra hand-overs)"),
        ("  of which after its answer was out", f"{sum(after.values())}"),
        ("items left in the queue / held", f"{result['left']} / {result['held']}"),
        ("cut calls answered Done / Not done / Interrupted",
         f"{resumed['Done before the app restarted']} / "
         f"{resumed['Not done'] + resumed['Partly done']} / {resumed['Interrupted']}"),
        ("  replies sending an answer again after a Not done", f"{result['sent_again']}"),
        ("  requests carrying a cut call's answer again", f"{result['resumed_again']}"),
        ("restarts / failed", f"{figures.restarts} / {len(figures.failed_restarts)}"),
        ("kill moments that never came (killed anyway)", f"{figures.missed_triggers}"),
        ("model requests", f"{result['requests']}"),
        ("wall time", f"{result['wall_s']:.1f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"kairos kill bench: `kairos run --headless` killed -9 at random moments of a turn "
             f"(seed {result['seed']})", ""]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    for r in [*never, *twice]:
        lines.append(f"  ! round {r.number} ({r.marker}, {'queued' if r.queued else 'sent'}, "
                     f"+{r.second_call}, killed {r.landing}): answered {answered[r.marker]} "
                     f"time(s), handed over {handed[r.marker]} time(s)")
    for failure in figures.failed_restarts:
        lines.append("  ! restart failed: " + failure.replace("\n", "\n    "))
    lines += ["", f"{_common.verdict(ok)}: every message answered exactly once"
              if ok else f"{_common.verdict(ok)}: {len(never)} never answered, "
              f"{len(twice)} answered more than once"]
    return "\n".join(lines), ok


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kills",
        description="Kill -9 a real `kairos run --headless` mid-turn, again and again, and count "
                    "how often each message was answered.")
    parser.add_argument("--kills", type=int, default=None,
                        help="rounds, one kill each (default 40; 10 with --quick)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--quick", action="store_true", help="10 kills")
    parser.add_argument("--verbose", action="store_true", help="print each round as it ends")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a message was answered 0 or 2+ times")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _common.unwind_on_sigterm()
    kills = args.kills if args.kills is not None else (10 if args.quick else 40)
    if kills < 1:
        print("kills: --kills must be at least 1", file=sys.stderr)
        return 2
    progress: Callable[[str], None] = (lambda line: print(line, flush=True)) if args.verbose \
        else (lambda _: None)
    try:
        result = measure(kills, args.seed, progress)
    except (BenchError, KairosError) as exc:
        print(f"kills: could not measure: {exc}", file=sys.stderr)
        return 1
    text, ok = report(result)
    print(text, flush=True)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
