"""What a start does with a turn a stop cut short, so a message is answered once across any kill.

The loop stores a reply's turn (and acks what it consumed) before the reply's tools run, and
each delivery is written with the id of the call that made it (Deliveries.done_by). A kill can
then leave three things, each mended here at the next start:
- items still queued whose turn is stored (a kill between the store and the ack): acked, not
  handed to the model again (skip_stored_items);
- a new session while the last one ends in a turn whose calls have no results: that turn is
  carried into the new session, so the model finishes what it started (carry_interrupted_turn);
- the calls without results: answered from what they left (resume_answers): a delivery that
  was made is reported done (never sent again), one that was not is reported not done, and any
  other call is reported interrupted, its effect unknown.
"""

from __future__ import annotations

from typing import Any

from ..delivery.deliveries import Deliveries
from ..journal import DailyLog
from ..queue import InboundQueue
from ..tools.base import RECORDS_ITS_CALLS
from ..transcript import (
    SLEEP_RESULT,
    Transcript,
    interrupted_turn,
    latest_session_id,
    stored_item_ids,
)

STOPPED = "the app stopped (it was quit, crashed or was killed)"


def skip_stored_items(queue: InboundQueue, transcript: Transcript, log: DailyLog) -> None:
    """Ack what a crash left queued after its turn was stored (the latest transcript holds
    the ids of the items each stored turn consumed): never answered twice."""
    pending = queue.pending()
    if not pending:
        return
    try:
        stored = stored_item_ids(transcript.path.parent)
    except OSError as exc:
        log.append("error", f"could not read the latest transcript to skip items it already "
                   f"answered: {exc}")
        return
    done = [i.id for i in pending if i.id in stored]
    if done:
        queue.ack(done)
        log.append("start", f"{len(done)} queued item(s) were answered before the app stopped "
                   "(their turn is in the transcript): not sent again")


def carry_interrupted_turn(transcript: Transcript, log: DailyLog) -> None:
    """A new session after a stop that cut a turn short (its calls stored, their results
    not): that turn goes on in `transcript`, so the model finishes what it started (its items
    were acked with it, so nothing else would answer them) and learns which calls ran."""
    if transcript.turns:
        return  # a resumed session: its own last turn is resumed as it is
    sessions = transcript.path.parent
    latest = latest_session_id(sessions)
    if latest is None or latest == transcript.session_id:
        return
    try:
        turn = interrupted_turn(sessions / f"{latest}.jsonl")
    except OSError as exc:
        log.append("error", f"could not read the last session to resume its turn: {exc}")
        return
    if turn is not None:
        transcript.append_turn(turn.messages, turn.at)
        log.append("start", f"session {latest} stopped in the middle of a turn: it goes on in "
                   "this session")


def resume_answers(uses: list[dict[str, Any]], deliveries: Deliveries, log: DailyLog
                   ) -> list[dict[str, Any]]:
    """The tool results for the calls the last turn left unanswered (`uses`, its tool_use
    blocks): "Woke up." for the Sleep it ended on; for any other call, what it left."""
    if not uses:
        return []
    done = deliveries.done_by([b["id"] for b in uses if b.get("name") != "Sleep"])
    answers = []
    for use in uses:
        name = str(use.get("name", ""))
        if name == "Sleep":
            answers.append({"type": "tool_result", "tool_use_id": use["id"],
                            "content": SLEEP_RESULT})
            continue
        delivered = done.get(use["id"], [])
        answers.append({"type": "tool_result", "tool_use_id": use["id"],
                        "content": _answer(name, delivered), "is_error": not delivered})
    resumed = [f"{b.get('name')} ({_state(str(b.get('name')), done.get(b['id'], []))})"
               for b in uses if b.get("name") != "Sleep"]
    if resumed:
        log.append("start", "resuming the turn a stop cut short; its calls: " + ", ".join(resumed))
    return answers


def _state(name: str, delivered: list[str]) -> str:
    if not delivered:
        return "not done"
    return "partly done" if _partly(name, delivered) else "done"


def _partly(name: str, delivered: list[str]) -> bool:
    """A message's attachments went out but not the message itself."""
    return name == "SendUserMessage" and not any(w.startswith("message") for w in delivered)


def _answer(name: str, delivered: list[str]) -> str:
    if delivered and _partly(name, delivered):
        return (f"Partly done before the app stopped: it delivered {', '.join(delivered)} but "
                "not the message itself. Send the message again without them.")
    if delivered:
        return (f"Done before the app restarted: delivered {', '.join(delivered)}. The user "
                "has it; do not send it again.")
    if name in RECORDS_ITS_CALLS:
        return f"Not done: {STOPPED} before this call ran. Call it again if it is still needed."
    return (f"Interrupted: {STOPPED} while this call ran, and its result was lost. It may have "
            "taken effect: check before calling it again.")


__all__ = ["carry_interrupted_turn", "resume_answers", "skip_stored_items"]
