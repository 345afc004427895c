"""Screenshots of every panel view, light and dark, for the README.

    .venv/bin/python build/screenshots.py [--out assets/screenshots]

A real engine runs on a scratch home with a week of made-up use (messages, files, tasks, memory,
usage, one command waiting for approval); the model is the tests' fake Anthropic server, so
nothing leaves the machine. The page is rendered by the system's Chromium through Playwright.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kairos_desktop.api import Kairos  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, tool_use  # noqa: E402

VIEWS = ["chat", "inbox", "tasks", "activity", "memory", "settings"]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def seed_files(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_text(json.dumps({
        "assistantName": "Kairos", "inboxDir": str(home / "Kairos Inbox"),
        "runCommandEnabled": True, "runCommandAllowlist": ["git status", "ls"],
        "approvalTimeoutSeconds": 600, "quietHours": {"start": "22:00", "end": "07:30"},
        "notifyStatuses": ["proactive"]}, indent=2))
    workspace = home / "workspace"
    workspace.mkdir(exist_ok=True)
    (workspace / "weekly-report.md").write_text("# Week 47\n\n- 3 PRs merged\n")
    (workspace / "budget-2027.csv").write_text("month,amount\nJan,1200\n")
    (workspace / "flight-options.md").write_text("# Lisbon, 12–15 Dec\n")


async def seed_engine(k: Kairos) -> None:
    engine = k.engine
    d = engine.deliveries
    engine.app.send("Can you keep an eye on the release PR and tell me when CI is green?")
    await d.message("Will do. I subscribed to kairos-desktop#412 and will tell you when its "
                    "checks pass.", "normal")
    await d.message("CI on #412 is green and it has two approvals — ready to merge.",
                    "proactive")
    engine.app.send("Great. Also put together this week's report please.")
    await d.message("Here is this week's report: 3 PRs merged, 2 reviews pending.", "normal",
                    [str(engine.home.workspace_dir / "weekly-report.md")])
    await d.file(str(engine.home.workspace_dir / "budget-2027.csv"), "Budget 2027 draft")
    await d.file(str(engine.home.workspace_dir / "flight-options.md"), "Flights to Lisbon")
    engine.scheduler.create("0 9 * * 1-5", "Check my open pull requests and summarise them",
                            recurring=True, durable=True)
    engine.scheduler.create("30 17 * * 5", "Draft the weekly report", recurring=True,
                            durable=True)
    engine.memory.write_topic("work-projects", "# Work projects\n\n- kairos-desktop: release "
                              "0.2 planned for December.\n- Reviews: prefers short summaries.\n")
    engine.memory.write_topic("travel", "# Travel\n\n- Lisbon 12–15 Dec; window seat.\n")
    engine.memory.write_index("- [Work projects](topics/work-projects.md): releases, reviews\n"
                              "- [Travel](topics/travel.md): trips and preferences\n")
    today = engine.clock.now().date()
    for back in range(30):
        day = (today - timedelta(days=back)).isoformat()
        calls = 24 + (back * 7) % 13
        engine.store.insert("usage", {
            "date": day, "model": engine.settings.model, "calls": calls,
            "input": 3000 * calls, "output": 120 * calls, "cacheRead": 60_000 * calls,
            "cacheWrite": 4000 + 900 * (back % 5),
            "costUsd": round(0.03 + 0.004 * ((back * 5) % 9), 4)})
    engine.daily_log.append("tick", "nothing new; sleeping 55 min")
    engine.daily_log.append("task fired", "weekday PR check (catch-up after sleep)")
    asyncio.get_running_loop().create_task(
        engine.approvals.request("git pull --rebase origin main", str(engine.home.workspace_dir)))
    await asyncio.sleep(0.1)


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": 1100, "height": 720},
                                    color_scheme=scheme, device_scale_factor=1)
            for view in VIEWS:
                page.goto(f"{url}#{view}")
                page.wait_for_timeout(700)
                path = out / f"panel-{view}-{scheme}.png"
                page.screenshot(path=str(path))
                written.append(path)
            page.close()
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with FakeAnthropic() as fake, tempfile.TemporaryDirectory() as scratch:
        fake.on_empty = tool_use("Sleep", {"seconds": 3000})
        home = Path(scratch) / "home"
        seed_files(home)
        k = Kairos(home, api_key="demo", base_url=fake.base_url).start_in_thread()
        try:
            k.call(seed_engine(k))
            for path in shoot(k.panel_url, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            k.stop_in_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
