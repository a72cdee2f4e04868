"""YAML routing policies: schema, loading with located errors, and the decision function."""

from policies.decide import Decision, decide
from policies.loader import PolicyError, load_policy, load_policy_text
from policies.schema import Policy, Tier

__all__ = ["Decision", "Policy", "PolicyError", "Tier", "decide", "load_policy", "load_policy_text"]
