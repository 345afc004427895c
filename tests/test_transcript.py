"""The transcript: append-only, resumable, its oldest turns replaced by a summary so that the
context stays bounded (the file keeps them)."""

from __future__ import annotations

import json
import logging
import os
import random
import stat
from pathlib import Path

import pytest

from kairos_desktop.transcript import Transcript, extend, repair


def _turn(i: int) -> list[dict]:
    return [
        {"role": "user",
         "content": [{"type": "text", "text": f"<tick/> message {i} " + "x" * 400}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": f"t{i}", "name": "SendUserMessage",
             "input": {"message": f"answer {i}", "status": "normal"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                      "content": "Delivered"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": f"s{i}", "name": "Sleep", "input": {"seconds": 600}}]},
    ]


def test_turns_are_reloaded_from_the_jsonl_file(tmp_path: Path) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "2026-11-22T09:00:00+01:00")
    reopened = Transcript.open(tmp_path, "s1")
    assert len(reopened.turns) == 1
    assert [b["id"] for b in reopened.unanswered_tool_uses()] == ["s1"]


def test_a_torn_last_line_after_a_crash_is_skipped(tmp_path: Path) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "t")
    with open(transcript.path, "a") as handle:
        handle.write('{"type": "turn", "messages": [')
    assert len(Transcript.open(tmp_path, "s1").turns) == 1


def test_a_torn_last_line_does_not_swallow_the_next_turn(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "t1")
    torn = '{"type": "turn", "at": "t2", "messages": [{"role": "us'
    with open(transcript.path, "a") as handle:  # the crash: the record cut short mid-write
        handle.write(torn)
    restarted = Transcript.open(tmp_path, "s1")
    with caplog.at_level(logging.WARNING):
        restarted.append_turn(_turn(3), "t3")
    reopened = Transcript.open(tmp_path, "s1")
    assert [t.at for t in reopened.turns] == ["t1", "t3"]
    assert (tmp_path / "s1.jsonl.torn").read_text() == torn + "\n"  # kept, not lost
    assert any("s1.jsonl.torn" in r.getMessage() for r in caplog.records)


def test_a_torn_record_longer_than_a_read_is_moved_aside_whole(tmp_path: Path) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "t1")
    torn = '{"type": "turn", "at": "t2", "messages": [{"role": "user", "content": "' + \
        "a pasted log " * 20_000  # 260 KB: the repair reads back from the end in several reads
    with open(transcript.path, "a") as handle:
        handle.write(torn)
    Transcript.open(tmp_path, "s1").append_turn(_turn(3), "t3")
    assert [t.at for t in Transcript.open(tmp_path, "s1").turns] == ["t1", "t3"]
    assert (tmp_path / "s1.jsonl.torn").read_text() == torn + "\n"


def test_a_turn_glued_onto_a_torn_line_by_an_older_version_is_still_loaded(
        tmp_path: Path) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "t1")
    transcript.append_turn(_turn(2), "t2")
    first, second = transcript.path.read_text().splitlines()
    transcript.path.write_text(first + "\n" + second[:80] + second + "\n")
    assert [t.at for t in Transcript.open(tmp_path, "s1").turns] == ["t1", "t2"]


def test_a_weeks_worth_of_turns_stays_within_the_context_budget(tmp_path: Path) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    budget, summary_tokens = 5_000, 600
    for i in range(7 * 24):  # one active turn an hour for a week
        transcript.append_turn(_turn(i), f"day{i // 24} {i % 24:02d}:00")
        folded = transcript.fold_plan(budget, summary_tokens=summary_tokens)
        if folded:  # what a model would write: here, which turns it covers
            summary = f"summary of turns up to {folded[-1].at}"
            transcript.fold(len(folded), summary, folded[-1].at, by="claude-test")
        assert transcript.context_tokens() <= budget
    context = transcript.context()
    assert context[0]["content"][0]["text"].startswith("<earlier-conversation")
    assert "summary of turns up to" in context[0]["content"][0]["text"]
    assert "answer 167" in str(context)  # the newest turn is verbatim
    assert "answer 0" not in str(context)
    reopened = Transcript.open(tmp_path, "s1")  # the summary is kept with the session
    assert reopened.context() == context
    assert "answer 0" in transcript.path.read_text()  # the file keeps every turn


def test_the_oldest_turns_are_folded_only_past_the_budget_and_the_newest_always_stays(
        tmp_path: Path) -> None:
    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "t1")
    assert transcript.fold_plan(5_000, summary_tokens=600) == []  # it fits
    transcript.append_turn([{"role": "user", "content": [{"type": "text",
                                                          "text": "y" * 40_000}]}], "t2")
    assert [t.at for t in transcript.fold_plan(5_000, summary_tokens=600)] == ["t1"]
    transcript.fold(1, "what t1 said", "t2", by="claude-test")
    assert [t.at for t in transcript.turns] == ["t2"]
    assert transcript.fold_plan(5_000, summary_tokens=600) == []  # one turn: nothing to fold
    record = json.loads(transcript.path.read_text().splitlines()[-1])
    assert record["type"] == "compaction" and record["by"] == "claude-test"
    assert record["folded"] == {"turns": 1, "from": "t1", "to": "t1"}


def test_repair_drops_orphan_tool_results_and_answers_dangling_tool_uses() -> None:
    messages = [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "gone",
                                      "content": "x"}, {"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Sleep",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "text", "text": "tick"}]},
    ]
    fixed = repair(messages)
    assert fixed[0]["content"] == [{"type": "text", "text": "hi"}]
    assert fixed[2]["content"][0] == {"type": "tool_result", "tool_use_id": "a",
                                      "content": "Woke up."}


def _random_messages(rng: random.Random, count: int, ids: list[str]) -> list[dict]:
    """Messages as a crash, an old version or a refused call can leave them: roles out of turn,
    tool results for uses that are gone, uses never answered, empty contents."""
    messages = []
    for _ in range(count):
        if rng.random() < 0.5:
            ids.append(f"t{len(ids)}")
            blocks = [{"type": "tool_use", "id": ids[-1], "name": "Sleep", "input": {}}
                      for _ in range(rng.randint(0, 2))]
            messages.append({"role": "assistant", "content": [
                {"type": "text", "text": "a"}, *blocks][rng.randint(0, 1):]})
        else:
            results = [{"type": "tool_result", "tool_use_id": rng.choice(ids or ["none"]),
                        "content": "r"} for _ in range(rng.randint(0, 2))]
            text = [{"type": "text", "text": "u"}] if rng.random() < 0.7 else []
            messages.append({"role": "user", "content": results + text})
    return messages


def test_extending_a_repaired_context_gives_what_repairing_all_of_it_gives() -> None:
    # The loop sends extend(context, turn) on every call instead of repairing the whole
    # conversation again: the two must never differ.
    rng = random.Random(7)
    for _ in range(2_000):
        ids: list[str] = []
        context = repair(_random_messages(rng, rng.randint(0, 8), ids))
        tail = _random_messages(rng, rng.randint(0, 4), ids)
        before = json.dumps(context)
        assert extend(context, tail) == repair(context + tail)
        assert json.dumps(context) == before  # the context it was given is unchanged


def test_a_new_transcript_is_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask: left alone, new files are 0644
    try:
        transcript = Transcript.open(tmp_path / "home" / "sessions", "s1")
        transcript.append_turn(_turn(1), "t")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(transcript.path.stat().st_mode) == 0o600
    assert [oct(stat.S_IMODE(p.stat().st_mode)) for p in (tmp_path / "home",
                                                          transcript.path.parent)] == \
        [oct(0o700)] * 2


def test_an_image_in_a_tool_result_counts_as_what_the_api_charges_not_as_its_base64() -> None:
    from kairos_desktop.transcript import IMAGE_TOKENS, estimate_tokens

    data = "A" * 800_000  # a 600 KB screenshot, as base64
    message = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                            "content": [{"type": "text", "text": "the screen:"},
                                                        {"type": "image", "source": {
                                                            "type": "base64",
                                                            "media_type": "image/png",
                                                            "data": data}}]}]}
    assert IMAGE_TOKENS <= estimate_tokens([message]) < IMAGE_TOKENS + 100


def _call(call_id: str, name: str = "SendUserMessage") -> dict:
    return {"role": "assistant", "content": [
        {"type": "tool_use", "id": call_id, "name": name, "input": {}}]}


def test_a_turn_cut_short_after_its_calls_were_stored_is_found_from_the_file_s_end(
        tmp_path: Path) -> None:
    from kairos_desktop.transcript import interrupted_turn

    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn(_turn(1), "t1")  # ends on a Sleep: complete
    assert interrupted_turn(transcript.path) is None
    # A turn stored in parts, the first far bigger than one read from the end, its last
    # call without a result: everything since the turn's first part comes back.
    big = {"role": "user", "content": [{"type": "text", "text": "y" * 300_000}]}
    transcript.append_turn([big, _call("a")], "t2", items=["i1"])
    transcript.append_turn([{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "a", "content": "done"}]}, _call("b")], "t2",
        continues=True, tools_pending=True)  # stored before b ran
    assert Transcript.open(tmp_path, "s1").tools_pending
    with open(transcript.path, "ab") as handle:
        handle.write(b'{"type": "turn", "at": "t3", "mess')  # a crash mid-write
    turn = interrupted_turn(transcript.path)
    assert turn is not None and turn.at == "t2"
    assert turn.messages[0] == big and turn.messages[-1] == _call("b")
    assert len(turn.messages) == 4 and turn.tools_pending


def test_a_turn_that_ended_or_was_compacted_is_not_taken_for_a_cut_short_one(
        tmp_path: Path) -> None:
    from kairos_desktop.transcript import interrupted_turn

    transcript = Transcript.open(tmp_path, "s1")
    transcript.append_turn([{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                            _call("s", "Sleep")], "t1")
    assert interrupted_turn(transcript.path) is None  # it slept: complete
    transcript.append_turn([{"role": "user", "content": [{"type": "text", "text": "go"}]},
                            _call("c")], "t2")
    assert interrupted_turn(transcript.path) is not None
    transcript.fold(1, "summary", "t3", by="claude-test")  # a compaction closes its turn
    assert interrupted_turn(transcript.path) is None
    assert interrupted_turn(tmp_path / "missing.jsonl") is None
