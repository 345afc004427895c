"""The contract every event source keeps, and what every source is built from.

Why one contract: channels, pull-request polling and watched folders have the same life (built
without I/O, started on the engine's loop, told about settings, asked for their state, stopped),
so the composition root wires a list of `Source`s the same way instead of each one by hand, and a
fourth source is one more entry in `build_sources`, not four more places in the runtime.

The life of a source, in order:

    source = SomeSource(...)          # no I/O: no thread, no process, no socket, no file
    source.apply_settings(settings)   # before start, and again after every settings change
    await source.start()              # on the engine's running loop; never raises for a
                                      # source's own trouble (it shows in status())
    source.status(); source.tools()   # any time, on the loop thread
    await source.stop()               # idempotent, also when start() never ran

Settings reach a source in ONE way, `apply_settings`: a source never reads the settings file or
holds a callable into the engine. What is not settings (the clock, the queue, the daily log, the
store, how to tell the user) comes once, in a `SourceContext`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from tinydb import TinyDB

from ..approvals import Approvals
from ..clock import Clock
from ..journal import DailyLog
from ..queue import InboundItem
from ..settings import Settings
from ..store import Store
from ..tools.base import ToolProvider

# How long a blocking read that a source makes off the loop at start (the OS keyring, which may
# show an unlock prompt) may take before the source starts without it.
BLOCKING_READ_TIMEOUT_S = 30.0

S = TypeVar("S", bound="Source")


class PutMany(Protocol):
    def __call__(self, items: list[InboundItem], *,
                 with_writes: Callable[[TinyDB], None] | None = None) -> None: ...


class Source(ABC):
    """An event source: something outside the user that puts InboundItems into the queue."""

    #: The source's name: its key in the engine's status ("channels", "github", "folders").
    name: ClassVar[str]

    @abstractmethod
    async def start(self) -> None:
        """Start on the running loop (threads, processes, sockets begin here, not before).
        Returns once the source is running; a second call is a no-op. A source that cannot do
        its work (a folder that does not exist, a server that cannot be spawned) still starts,
        and says why in status()."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop everything start() began and wait for it. Safe to call twice, and when start()
        never ran. Nothing already received is lost: what a source holds is queued first."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """The live state for `kairos status`, the doctor and the panel: JSON-serialisable,
        never secrets (a token is shown as present or absent, never its value)."""

    @abstractmethod
    def apply_settings(self, settings: Settings) -> None:
        """Take `settings`: called once before start() and after every settings change, on the
        loop thread. Cheap and synchronous; while running, the source applies what it can at
        once (and its status() says what waits for a restart)."""

    def tools(self) -> list[ToolProvider]:
        """Tools this source offers the model (an MCP server's, say); most offer none. The
        providers are live: their definitions() follow what the source runs now."""
        return []


@dataclass(frozen=True)
class SourceContext:
    """What every source is built from; none of it is settings, all of it is the engine's."""

    clock: Clock
    #: Queues an item (InboundQueue.put); items that wake the loop wake it from here.
    put: Callable[[InboundItem], Any]
    daily_log: DailyLog
    store: Store
    #: Queues items and runs the given store writes in ONE transaction (InboundQueue.put_many):
    #: what a source has seen and what it queued can never disagree after a crash.
    put_many: PutMany | None = None
    #: The approval broker (RunCommand's): MCP tool calls that must ask wait there.
    approvals: Approvals | None = None
    #: The assistant's workspace: with allowedFolders, where a tool call may name files.
    workspace: Path | None = None
    #: Told (with the source's name) when its status changes in a way a front end shows live
    #: (a server started, died, was refused).
    on_change: Callable[[str], None] | None = None
    #: Tells the user something once (a channel that keeps crashing); a chat message.
    notify_user: Callable[[str], Awaitable[Any]] | None = None
    #: Paths never reported as changes (the assistant's own home: it changes on every tick).
    exclude: tuple[Path, ...] = ()
    #: Reads the GitHub token; blocking (the OS keyring), so it is called off the loop, from
    #: start(), within `blocking_timeout`. None: $GITHUB_TOKEN, then the OS keyring.
    github_token: Callable[[], str | None] | None = None
    blocking_timeout: float = BLOCKING_READ_TIMEOUT_S


def find_source(sources: Iterable[Source], kind: type[S]) -> S:
    """The one source of type `kind` among `sources` (typed access for the composition root:
    the loop needs the PR subscriptions, the control API lists them)."""
    for source in sources:
        if isinstance(source, kind):
            return source
    raise LookupError(f"no {kind.__name__} among the sources")
