from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifiers.base import Prediction
from engines.factory import fields_of
from policies import PolicyError, load_policy, load_policy_text
from policies.decide import NoTierAvailable, decide
from policies.schema import Tier
from router.cli import app

ROOT = Path(__file__).resolve().parents[1]

TWO_TIERS = """
version: 1
tiers:
  cheap:
    engine: openai
    model: small
    base_url: http://127.0.0.1:1/v1
    prices: {input_per_mtok: 0.1, output_per_mtok: 0.2}
    quality_prior: 0.6
  dear:
    engine: litellm
    model: big
    litellm_model: openai/big
    prices: {input_per_mtok: 10, output_per_mtok: 30}
    quality_prior: 0.9
routing:
  ROUTING
"""


def policy(routing: str) -> object:
    return load_policy_text(TWO_TIERS.replace("ROUTING", routing))


def test_bundled_policies_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SWITCHYARD_SELF_HOSTED_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    default = load_policy()
    assert default.enabled_tiers() == ["local"]
    assert default.tiers["self_hosted"].status() == (False, "waiting for SWITCHYARD_SELF_HOSTED_URL to be set")
    assert default.tiers["frontier"].status()[1] == "no key: OPENAI_API_KEY is not set"
    example = load_policy(ROOT / "policies/examples/three-tier.yaml")
    assert example.by_cost() == ["local", "self_hosted", "frontier"]


def test_env_interpolation_enables_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_SELF_HOSTED_URL", "http://127.0.0.1:9999/v1")
    default = load_policy()
    assert default.tiers["self_hosted"].base_url == "http://127.0.0.1:9999/v1"
    assert "self_hosted" in default.enabled_tiers()


def test_errors_are_located() -> None:
    text = "version: 1\ntiers:\n  a:\n    engine: openai\n    model: m\n    base_url: http://x/v1\n    pricez: {}\n"
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "p.yaml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (7, 5)
    assert issue.path == ("tiers", "a", "pricez") and "unknown field" in issue.message


def test_cross_references_are_checked() -> None:
    text = TWO_TIERS.replace("ROUTING", "thresholds: {huge: 0.5}") + "fallbacks:\n  cheap: [dear, nowhere]\n"
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    messages = {str(issue) for issue in caught.value.issues}
    assert any("routing.thresholds.huge: unknown tier 'huge'" in m for m in messages)
    assert any("fallbacks.cheap.1: unknown tier 'nowhere'" in m and "line 19, column 17" in m for m in messages)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tiers: [1, 2]", "tiers: Input should be a valid dictionary"),
        ("version: 1\ntiers:\n  a: {engine: tpu, model: m}\n", "tiers.a.engine: tier 'a': unknown engine 'tpu'; engine is one of fake,"),
        ("version: 1\ntiers:\n  a: {model: m}\n", "tiers.a: tier 'a' names no engine"),
        ("version: 1\ntiers:\n  a: {engine: openai, model: m}\n", "an openai tier needs base_url"),
        ("tiers:\n  a: {engine: llamacpp, model: m\n", "invalid YAML"),
        ("- just a list", "a policy is a YAML mapping"),
        (TWO_TIERS.replace("ROUTING", "quality_target: 2"), "routing.quality_target: Input should be less than or equal to 1"),
        (TWO_TIERS.replace("ROUTING", "quality_target: 0.5\n  thresholds: {dear: 0.5}"), "not both"),
    ],
)
def test_lint_messages(text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    assert fragment in str(caught.value)


def test_a_tiers_fields_are_its_engines_own() -> None:
    text = (
        "version: 1\ntiers:\n  x:\n    engine: openai\n    model: m\n    base_url: http://h/v1\n    model_path: a.gguf\n"
        "  g:\n    engine: vllm\n    model: g\n    vllm: {replicas: [http://h:8000], balancin: {}}\n    n_ctx: 0\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "p.yaml")
    shown = [str(issue) for issue in caught.value.issues]
    assert shown == [
        "line 7, column 5: tiers.x.model_path: tier 'x' (engine: openai): unknown field 'model_path' "
        "('model_path' belongs to llamacpp tiers)",
        # Pydantic's place inside the union (tiers.g.vllm.vllm...) is the file's place: the engine is named in words.
        "line 11, column 39: tiers.g.vllm.balancin: tier 'g' (engine: vllm): unknown field 'balancin' (check the spelling)",
        "line 12, column 5: tiers.g.n_ctx: tier 'g' (engine: vllm): unknown field 'n_ctx' ('n_ctx' belongs to llamacpp tiers)",
    ]


def test_tier_builds_the_kind_its_engine_names() -> None:
    openai_tier = Tier(engine="openai", model="m", base_url="http://h/v1")
    assert (
        type(openai_tier).__name__ == "OpenAITier" and isinstance(openai_tier, Tier) and openai_tier.urls() == [("base_url", "http://h/v1")]
    )
    fake = Tier.model_validate({"engine": "fake", "model": "f"})
    assert type(fake).__name__ == "FakeTier" and fake.status() == (
        True,
        "in-process fake engine (deterministic echo; tests and benchmarks)",
    )
    # A kind's settings are the shared ones plus its own: the fake engine takes nothing more.
    assert fields_of("fake") == set(Tier.model_fields)
    assert fields_of("llamacpp") - set(Tier.model_fields) == {"model_path", "n_ctx", "n_threads"}
    with pytest.raises(ValueError, match="model_path"):
        Tier(engine="fake", model="f", model_path="x.gguf")


def test_prices_are_decimal() -> None:
    tier = policy("quality_target: 0.5").tiers["dear"]
    assert tier.cost(1_000_000, 1_000_000) == Decimal("40")
    assert tier.cost(3, 7) == Decimal("0.00024")


def test_decide_by_thresholds() -> None:
    p = policy("thresholds: {dear: 0.5}")
    low = decide(p, Prediction({}, 0.2), ["cheap", "dear"])
    assert (low.tier, low.threshold) == ("cheap", 0.5) and "below" in low.reason
    high = decide(p, Prediction({}, 0.5), ["cheap", "dear"])
    assert (high.tier, high.threshold, high.model) == ("dear", 0.5, "big")
    assert decide(p, Prediction({}, 0.9), ["cheap"]).tier == "cheap"


def test_decide_by_quality_target_uses_classifier_labels_and_priors() -> None:
    p = policy("quality_target: 0.7")
    easy = decide(p, Prediction({}, 0.0), ["cheap", "dear"])
    assert easy.tier == "dear"  # prior 0.6 < 0.7 even on an easy request
    labelled = decide(p, Prediction({"small": 0.8, "big": 0.95}, 0.9), ["cheap", "dear"])
    assert labelled.tier == "cheap" and labelled.predicted == {"cheap": 0.8, "dear": 0.95}
    none_meets = decide(p, Prediction({"small": 0.3, "big": 0.3}, 0.9), ["cheap", "dear"])
    assert none_meets.tier == "cheap" and "no enabled tier meets" in none_meets.reason  # tie goes cheap
    with pytest.raises(NoTierAvailable):
        decide(p, Prediction({}, 0.1), [])


def test_resolve_pins_by_tier_model_or_alias() -> None:
    p = load_policy(ROOT / "policies/examples/three-tier.yaml")
    assert p.resolve("frontier") == "frontier"
    assert p.resolve("gpt-4o") == "frontier"
    assert p.resolve("local-small") == "local"
    assert p.resolve("nope") is None


def test_cli_lint(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["policy", "lint", str(ROOT / "policies/examples/three-tier.yaml")])
    assert good.exit_code == 0, good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntiers:\n  a:\n    engine: openai\n    model: m\n    base_url: ftp://x\n")
    result = runner.invoke(app, ["policy", "lint", str(bad)])
    assert result.exit_code == 1
    assert "line 6, column 5: tiers.a.base_url: 'ftp://x' is not an http(s) URL" in result.output
