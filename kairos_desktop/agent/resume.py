"""What a start does with a turn a stop cut short, so a message is answered once across any kill.

The loop stores a reply's turn (and acks what it consumed) before the reply's tools run, and
each delivery is written with the id of the call that made it (Deliveries.done_by). A kill can
then leave two things, each mended here at the next start:
- items still queued whose turn is stored (a kill between the store and the ack): acked, not
  handed to the model again (skip_stored_items);
- a last turn whose calls have no results. A new start goes on in that session rather than a
  new one (session_to_continue), so the cut turn is resumed once, in the file that holds it,
  and the calls are answered from what they left (resume_answers): a delivery that was made
  is reported done (never sent again), one that was not is reported not done, and any other
  call is reported interrupted, its effect unknown. A turn an older version stored (after its
  tools ran) had every call run: its calls are reported as run, their results lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..delivery.deliveries import Deliveries
from ..journal import DailyLog
from ..queue import InboundQueue
from ..tools.base import RECORDS_ITS_CALLS
from ..transcript import (
    SLEEP_RESULT,
    Transcript,
    acting_calls,
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


def session_to_continue(sessions_dir: Path) -> str | None:
    """The latest session when a stop cut its last turn short: a start that was not told
    which session to run goes on in it (as `--continue` does), so that turn is finished where
    it is kept. Read from the file's end: the cost is the turn's, not the session's."""
    latest = latest_session_id(sessions_dir)
    if latest is None:
        return None
    try:
        cut = interrupted_turn(sessions_dir / f"{latest}.jsonl")
    except OSError:
        return None  # unreadable: a new session, as without a cut turn
    return latest if cut is not None else None


def resume_answers(uses: list[dict[str, Any]], deliveries: Deliveries, log: DailyLog, *,
                   ran: bool = False) -> list[dict[str, Any]]:
    """The tool results for the calls the last turn left unanswered (`uses`, its tool_use
    blocks): "Woke up." for the Sleep it ended on; for any other call, what it left. `ran`:
    the turn was stored after its tools ran (an older version), so every call ran."""
    if not uses:
        return []
    done = deliveries.done_by([b["id"] for b in acting_calls(uses)])
    answers = []
    said = []  # what the log says of each cut call: the same as the model is told
    for use in uses:
        name = str(use.get("name", ""))
        if name == "Sleep":
            answers.append({"type": "tool_result", "tool_use_id": use["id"],
                            "content": SLEEP_RESULT})
            continue
        delivered = done.get(use["id"], [])
        outcome = _outcome(name, delivered, ran)
        said.append(f"{name} ({outcome})")
        answers.append({"type": "tool_result", "tool_use_id": use["id"],
                        "content": _ANSWERS[outcome].format(what=", ".join(delivered)),
                        "is_error": outcome in ("not done", "interrupted")})
    if said:
        log.append("start", "resuming the turn a stop cut short; its calls: " + ", ".join(said))
    return answers


def _outcome(name: str, delivered: list[str], ran: bool) -> str:
    """What became of a cut call: a key of _ANSWERS."""
    if delivered:
        # A message's attachments went out but not the message itself.
        partly = name == "SendUserMessage" and not any(w.startswith("message")
                                                       for w in delivered)
        return "partly done" if partly else "done"
    if ran:
        return "ran, result lost"
    return "not done" if name in RECORDS_ITS_CALLS else "interrupted"


# What the model is told of a cut call, by its outcome; {what}: what it delivered.
_ANSWERS = {
    "partly done": ("Partly done before the app stopped: it delivered {what} but not the message "
                    "itself. Send the message again without them."),
    "done": "Done before the app restarted: delivered {what}. The user has it; do not send it "
            "again.",
    "ran, result lost": (f"Done before {STOPPED}: this call ran, but its result was lost. Do "
                         "not call it again for the same thing."),
    "not done": f"Not done: {STOPPED} before this call ran. Call it again if it is still needed.",
    "interrupted": (f"Interrupted: {STOPPED} while this call ran, and its result was lost. It "
                    "may have taken effect: check before calling it again."),
}


__all__ = ["resume_answers", "session_to_continue", "skip_stored_items"]
