"""How long a message waits before the sleeping assistant asks the model about it.

Why: the heartbeat loop sleeps up to an hour between ticks to keep an idle day cheap. That is
only acceptable if a sleep ends the moment the user writes: `kairos send` must reach the model
at once, not at the next tick. This bench measures that with real processes and real time:
`kairos run --headless` in a subprocess (its model is FakeAnthropic, served from this process and
scripted to answer every request with a 3000 s Sleep), and for each message the time from the
send to the request arriving at the fake server.

Two paths are measured:
  * the control API (ControlClient.send, what `kairos send` does once started): target p99 < 50 ms;
  * the real `kairos send` command in a subprocess, which adds Python start-up and imports
    (reported for information, no target).

Run from the repository root:  python -m bench.wake_latency [--n 50] [--n-cli 5] [--check]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `python bench/wake_latency.py` puts bench/ (not the repository root) on sys.path; the fake
# server lives in tests/, so make the root importable either way.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from bench._common import BenchError  # noqa: E402
from kairos_desktop.errors import KairosError  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, tool_use  # noqa: E402

SLEEP_S = 3000.0  # what the fake model asks for: far longer than the bench, so only a send wakes
TARGET_P99_MS = 50.0
START_TIMEOUT_S = 30.0
STEP_TIMEOUT_S = 10.0
POLL_S = 0.002

# RecordedRequest.received_at is time.monotonic() taken in the fake's handler thread (in this
# process), so the send time must come from the same clock.
now = time.monotonic


@dataclass
class Stats:
    label: str
    samples_ms: list[float]

    def percentile(self, p: float) -> float:
        return _common.percentile(self.samples_ms, p)

    def line(self) -> str:
        if not self.samples_ms:
            return f"  {self.label:<36} (no samples)"
        p = self.percentile
        return (f"  {self.label:<36} n={len(self.samples_ms):<4} min {min(self.samples_ms):7.2f}"
                f"  median {p(50):7.2f}  p95 {p(95):7.2f}  p99 {p(99):7.2f}"
                f"  max {max(self.samples_ms):7.2f}  ms")


class Instance(_common.HeadlessEngine):
    """The engine under test, with the wait this bench needs between messages."""

    def wait_sleeping(self, turns: int, timeout: float = STEP_TIMEOUT_S,
                      poll: float = POLL_S) -> dict[str, Any]:
        return super().wait_sleeping(turns, timeout, poll)


def _request_for(fake: FakeAnthropic, index: int, text: str,
                 alive: Callable[[], None]) -> RecordedRequest:
    """The `index`-th request the fake received; it must carry `text`. The wait returns as soon
    as the request is recorded (its received_at is the fake's), and notices a dead engine."""
    deadline = now() + STEP_TIMEOUT_S
    while True:
        try:
            req = fake.wait_for_requests(index, timeout=0.25)
            break
        except AssertionError:  # how the fake reports a timeout
            alive()
            if now() > deadline:
                raise BenchError(f"model request #{index} did not arrive within "
                                 f"{STEP_TIMEOUT_S:g} s") from None
    if text not in req.last_user_text:
        raise BenchError(f"request #{index} did not carry the message {text!r}")
    return req


def measure(n: int, n_cli: int) -> tuple[Stats, Stats, Stats, dict[str, Any]]:
    """(control API wake latency, control API send round trip, `kairos send` latency, info)."""
    api = Stats("control API send -> model request", [])
    round_trip = Stats("control API send round trip", [])
    cli = Stats("`kairos send` subprocess -> request", [])
    info: dict[str, Any] = {}
    with (tempfile.TemporaryDirectory(prefix="kairos-wake-latency-") as tmp,
          FakeAnthropic(on_empty=tool_use("Sleep", {"seconds": SLEEP_S})) as fake):
        instance = Instance(Path(tmp), fake.base_url)
        began = now()
        try:
            instance.start(exit_after=START_TIMEOUT_S + 60 + 2.0 * (n + n_cli),
                           timeout=START_TIMEOUT_S, poll=POLL_S)
            status = instance.wait_sleeping(turns=1, timeout=START_TIMEOUT_S)
            info["startup_s"] = now() - began
            info["sleeping_until"] = status.get("sleepingUntil")
            client = instance.client
            assert client is not None
            turns = status["turns"]
            # The fake server keeps every request body (a growing conversation each time), and a
            # full collection of that heap in this process, on the fake's handler thread, would
            # be counted as the engine's latency. Measure the engine, not the bench.
            gc.collect()
            gc.disable()
            for i in range(n):
                text = f"wake-latency bench message {i + 1} of {n}"
                expected = len(fake.history) + 1
                t0 = now()
                client.send(text)
                t1 = now()
                req = _request_for(fake, expected, text, instance.check_alive)
                api.samples_ms.append((req.received_at - t0) * 1000)
                round_trip.samples_ms.append((t1 - t0) * 1000)
                turns += 1
                instance.wait_sleeping(turns)
            for i in range(n_cli):
                text = f"wake-latency bench CLI message {i + 1} of {n_cli}"
                expected = len(fake.history) + 1
                t0 = now()
                done = subprocess.run(instance.command("send", text), env=instance.env,
                                      cwd=REPO_ROOT, capture_output=True, text=True,
                                      timeout=STEP_TIMEOUT_S, check=False)
                if done.returncode != 0 or "running assistant" not in done.stdout:
                    raise BenchError(f"`kairos send` failed ({done.returncode}): "
                                     f"{done.stdout.strip()} {done.stderr.strip()}")
                req = _request_for(fake, expected, text, instance.check_alive)
                cli.samples_ms.append((req.received_at - t0) * 1000)
                turns += 1
                instance.wait_sleeping(turns)
            info["requests"] = len(fake.history)
        except (BenchError, KairosError, subprocess.TimeoutExpired) as exc:
            raise BenchError(f"{exc}\n{instance.log_tail()}") from None
        finally:
            gc.enable()
            stop_began = now()
            instance.stop()
            info["stop_s"] = now() - stop_began
            info["exit_status"] = instance.proc.returncode if instance.proc else None
        info["total_s"] = now() - began
    return api, round_trip, cli, info


def report(api: Stats, round_trip: Stats, cli: Stats, info: dict[str, Any]) -> tuple[str, bool]:
    p99 = api.percentile(99)
    ok = p99 < TARGET_P99_MS
    lines = [
        "kairos wake-latency bench: `kairos run --headless` subprocess asleep (fake model "
        f"answers Sleep {SLEEP_S:g} s), message -> request at the fake model",
        f"  engine started and asleep in {info['startup_s']:.2f} s; "
        f"{info['requests']} model requests in all",
        "",
        api.line(),
        round_trip.line(),
        cli.line() + ("  (includes Python start-up)" if cli.samples_ms else ""),
        "",
        f"{'PASS' if ok else 'FAIL'}: control API p99 {p99:.2f} ms "
        f"({'<' if ok else '>='} {TARGET_P99_MS:g} ms)",
        f"(engine stopped in {info['stop_s']:.2f} s with exit status {info['exit_status']}; "
        f"bench took {info['total_s']:.1f} s)",
    ]
    return "\n".join(lines), ok


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.wake_latency",
        description="Measure how fast a message wakes a sleeping `kairos run --headless`.")
    parser.add_argument("--n", type=int, default=50,
                        help="messages sent through the control API (default 50)")
    parser.add_argument("--n-cli", type=int, default=5,
                        help="messages sent with the real `kairos send` command (default 5)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the p99 target is missed (default: exit 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _common.unwind_on_sigterm()
    if args.n < 1 or args.n_cli < 0:
        print("wake_latency: --n must be at least 1 and --n-cli at least 0", file=sys.stderr)
        return 2
    try:
        api, round_trip, cli, info = measure(args.n, args.n_cli)
    except (BenchError, KairosError) as exc:
        print(f"wake_latency: could not measure: {exc}", file=sys.stderr)
        return 1
    text, ok = report(api, round_trip, cli, info)
    print(text, flush=True)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
