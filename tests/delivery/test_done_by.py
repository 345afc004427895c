"""After a crash, what a model's call delivered is found by the call's id (Deliveries.done_by):
the start that resumes the turn answers the call from it instead of delivering again."""

from __future__ import annotations

from pathlib import Path

from kairos_desktop.delivery.deliveries import Deliveries


async def test_each_call_s_deliveries_are_found_by_its_id_and_nothing_else_is(
        tmp_path: Path, deliveries: Deliveries) -> None:
    report = tmp_path / "workspace" / "report.md"
    report.parent.mkdir(parents=True)
    report.write_text("# findings\n")
    said = await deliveries.message("see the report", "normal", [str(report)],
                                    call_id="toolu_message")
    await deliveries.push("Rent", "due today", in_chat=True, call_id="toolu_push")
    filed = await deliveries.file(str(report), "Report", call_id="toolu_file")
    await deliveries.message("the app's own words", "system")  # no call: never matched
    done = deliveries.done_by(["toolu_message", "toolu_push", "toolu_file", "toolu_never"])
    assert done["toolu_message"] == ["file report.md", f"message {said['id']}"]
    assert done["toolu_push"][0].startswith("message ")
    assert done["toolu_file"] == [f"file {filed['name']}"]
    assert "toolu_never" not in done
    assert deliveries.done_by([]) == {}
