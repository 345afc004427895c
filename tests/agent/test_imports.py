"""The model's value types (and the agent turn that uses them) load without the anthropic SDK:
pricing, tests and tools can name a reply without paying for the SDK's import."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["kairos_desktop.model_types", "kairos_desktop.agent.turn"])
def test_importing_loads_no_anthropic(module: str) -> None:
    script = f"import sys, {module}; print('anthropic' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_the_client_module_still_names_the_value_types() -> None:
    from kairos_desktop import model, model_types

    assert model.ModelReply is model_types.ModelReply
    assert model.ToolCall is model_types.ToolCall and model.Usage is model_types.Usage
