"""YAML routing policies: schema, loading with located errors, and the decision function.

The names below are loaded on first use: the schema's tier union comes from the engine registry
(engines/factory.py), which imports `policies.tier`, so importing this package must not import the
schema. The decision function is `policies.decide.decide`: the package cannot also offer it as
`policies.decide`, which is the module's name.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Decision": "decide",
    "PolicyError": "loader",
    "load_policy": "loader",
    "load_policy_text": "loader",
    "Policy": "schema",
    "Tier": "schema",
}
__all__ = ["Decision", "Policy", "PolicyError", "Tier", "load_policy", "load_policy_text"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'policies' has no attribute {name!r}")
    return getattr(importlib.import_module(f"policies.{_WHERE[name]}"), name)
