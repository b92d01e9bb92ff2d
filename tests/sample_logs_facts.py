"""Access to ``sample_logs/generate.py``'s ``incident_facts()`` for tests."""

from __future__ import annotations

import importlib.util
from typing import Any

from tests.conftest import SAMPLE_LOGS


def facts() -> dict[str, Any]:
    """The sample incident's key facts, computed by its generator."""
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE_LOGS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: dict[str, Any] = module.incident_facts()
    return result
