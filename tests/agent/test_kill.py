"""A message is answered once across a kill -9: real `kairos run --headless` processes on a home
in tmp and the fake API. Killed mid-turn after the model answered (its next call hanging), or
left as a kill between storing the turn and acking its items leaves the home, the next start
never hands the same message to the model again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any

from kairos_desktop.clock import SystemClock
from kairos_desktop.control.client import ControlClient
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.errors import NotRunningError
from kairos_desktop.home import Home
from kairos_desktop.queue import InboundItem, InboundQueue
from kairos_desktop.store import Store
from kairos_desktop.transcript import interrupted_turn
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, Reply, hang, tool_use
from tests.test_cli import KAIROS, run_until_asleep, wait_sleeping
from tests.waiting import wait_until

MESSAGE = "please remind me to pay the rent"


def environment(fake: FakeAnthropic, home: Home) -> dict[str, str]:
    return {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.base_url,
            "KAIROS_HOME": str(home.root)}


def queue_message(home: Home, item_id: str | None = None) -> str:
    store = Store(home.store_file)
    item = InboundItem(kind="user", text=MESSAGE, **({"id": item_id} if item_id else {}))
    InboundQueue(store).put(item)
    store.close()
    return item.id


def handed_over(requests: list[RecordedRequest]) -> int:
    """How many turns gave the model the message as something that just arrived."""
    return sum(1 for r in requests if f"\n{MESSAGE}\n</message>" in r.last_user_text)


def answers(home: Home) -> list[Any]:
    store = Store(home.store_file)
    try:
        return [m["text"] for m in Outbox(store, SystemClock()).recent(1000)]
    finally:
        store.close()


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def results_sent(request: RecordedRequest) -> dict[str, str]:
    """The tool results the request's last message carries: {tool_use_id: text}."""
    blocks = request.messages[-1]["content"]
    return {b["tool_use_id"]: b["content"] for b in blocks if b.get("type") == "tool_result"}


def test_a_kill_after_the_answer_mid_turn_never_answers_the_message_again(
        fake: FakeAnthropic, home: Home) -> None:
    queue_message(home)
    fake.enqueue(tool_use("SendUserMessage", {"message": "I will remind you on the 1st.",
                                              "status": "normal"}),
                 hang())  # the turn's next call never comes back: killed right there
    env = environment(fake, home)
    first = subprocess.Popen([*KAIROS, "run", "--headless"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fake.wait_for_requests(2, timeout=30)
        assert answers(home) == ["I will remind you on the 1st."]
    finally:
        kill(first)
        fake.release_hangs()
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    run_until_asleep(env, home)
    assert handed_over(fake.history) == 1
    assert answers(home) == ["I will remind you on the 1st."]  # answered once
    # The restart tells the model its message went out (not "Woke up.", as if it had slept).
    [sent] = results_sent(fake.history[2]).values()
    assert sent.startswith("Done before the app restarted: delivered message")
    store = Store(home.store_file)
    assert store.all("inbound") == []
    store.close()


def test_a_kill_between_storing_the_turn_and_its_ack_never_answers_it_again(
        fake: FakeAnthropic, home: Home) -> None:
    item_id = queue_message(home)
    fake.enqueue(tool_use("SendUserMessage", {"message": "Noted.", "status": "normal"}),
                 tool_use("Sleep", {"seconds": 3000}))
    env = environment(fake, home)
    first = subprocess.Popen([*KAIROS, "run", "--headless"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_sleeping(home)
    finally:
        kill(first)
    # The turn is in the transcript, with the item's id; put the item back as it was before
    # its ack, which is what a kill between the two leaves on disk.
    [session] = list(home.sessions_dir.glob("*.jsonl"))
    records = [json.loads(line) for line in session.read_text().splitlines()]
    assert records[0]["items"] == [item_id]
    queue_message(home, item_id)
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    run_until_asleep(env, home)
    assert handed_over(fake.history) == 1
    assert answers(home) == ["Noted."]
    logs = "".join(p.read_text() for p in home.logs_dir.rglob("*.md"))
    assert "1 queued item(s) were answered before the app stopped" in logs


def test_a_kill_while_the_answer_s_other_calls_run_neither_repeats_nor_hides_the_answer(
        fake: FakeAnthropic, home: Home) -> None:
    # One reply: the answer, then a command that waits for the user's approval. Killed while
    # it waits, the answer is out but none of the reply's results were stored: the next
    # start must neither hand the message over again (a second answer) nor let the model
    # believe the answer was not sent.
    home.settings_file.write_text(json.dumps({"runCommandEnabled": True}))
    queue_message(home)
    fake.enqueue(Reply(content=(
        {"type": "tool_use", "id": "toolu_answer", "name": "SendUserMessage",
         "input": {"message": "On it.", "status": "normal"}},
        {"type": "tool_use", "id": "toolu_command", "name": "RunCommand",
         "input": {"command": "ls"}}), stop_reason="tool_use"))
    env = environment(fake, home)
    first = subprocess.Popen([*KAIROS, "run", "--headless"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = wait_until(lambda: _waiting_for_approval(home), timeout=30,
                            what="the command to wait for the user's approval")
        assert client is not None and answers(home) == ["On it."]
    finally:
        kill(first)
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    run_until_asleep(env, home)
    assert handed_over(fake.history) == 1
    assert answers(home) == ["On it."]
    results = results_sent(fake.history[1])
    assert results["toolu_answer"].startswith("Done before the app restarted: delivered message")
    assert results["toolu_command"].startswith("Interrupted: the app stopped")
    logs = "".join(p.read_text() for p in home.logs_dir.rglob("*.md"))
    assert "resuming the turn a stop cut short; its calls: SendUserMessage (done), " \
        "RunCommand (interrupted)" in logs
    # The restart went on in the session the kill cut short, and stored the resumed turn
    # though it only slept: no later tick, and no later start, resumes it again.
    [session] = list(home.sessions_dir.glob("*.jsonl"))
    assert interrupted_turn(session) is None


def _waiting_for_approval(home: Home) -> object | None:
    try:
        client = ControlClient.for_home(home)
        return client if client.approvals() else None
    except NotRunningError:
        return None
