"""The local control API: how the CLI, the panel and a notebook talk to a running instance."""

from __future__ import annotations

TOKEN_HEADER = "X-Kairos-Token"
