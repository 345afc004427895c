"""The CLI's connection to a home when no instance runs: the application API on its files.

Built on the same classes as the engine (homeapp.HomeServices / HomeApp), under the home's lock,
so `kairos send` with the app closed writes the message exactly as the running app would (the
queue AND the chat's record of what the user said) and `kairos settings set` passes the same
checks. What needs the running app (waking, dreaming, approvals, the panel) raises
NotRunningError saying so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .clock import SystemClock, local_zone
from .events import EventBus
from .home import Home
from .homeapp import JSON, HomeApp, HomeServices, SettingsState
from .keys import check_key_format
from .settings import load_settings


class OfflineApp(HomeApp):
    """A HomeApp on the files of a home that no process runs. Use `OfflineApp.open(home)`."""

    @classmethod
    @contextlib.contextmanager
    def open(cls, home: Home) -> Iterator[OfflineApp]:
        loaded = load_settings(home.settings_file)
        state = SettingsState(loaded.settings, list(loaded.problems))
        clock = SystemClock(local_zone(loaded.settings.time_zone))
        home.ensure()
        with home.locked():
            bus = EventBus()
            app = cls.__new__(cls)
            app.home, app._state = home, state  # inbox_dir() reads only these
            services = HomeServices.open(home, clock=clock, settings=lambda: state.current,
                                         bus=bus, inbox_dir=app.inbox_dir(),
                                         seed_builtins=False)
            HomeApp.__init__(app, home=home, clock=clock, bus=bus, services=services,
                             settings=state)
            try:
                yield app
            finally:
                services.close()

    def set_api_key(self, key: str) -> JSON:
        """Store the key (keyring or 0600 file); the app uses it from its next start."""
        source = self.home.api_keys().save(check_key_format(key))
        return {**self.key_info().to_dict(), "source": source}

    def clear_api_key(self) -> JSON:
        self.home.api_keys().clear()
        return self.key_info().to_dict()
