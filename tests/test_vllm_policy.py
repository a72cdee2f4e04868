"""vLLM tier settings in the policy: validation, GPU-hour pricing, launch arguments."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from policies import PolicyError, load_policy, load_policy_text
from policies.deploy import vllm_launch_args
from policies.vllm import Pricing, reprice
from router.measured_prices import MeasuredPrices

ROOT = Path(__file__).resolve().parents[1]

TIER = """
version: 1
tiers:
  gpu:
    engine: vllm
    model: qwen-7b
    upstream_model: Qwen/Qwen2.5-7B-Instruct
    context_window: 16384
    VLLM
  api:
    engine: litellm
    model: big
    litellm_model: openai/big
    prices: {input_per_mtok: 2.5, output_per_mtok: 10}
"""


def load(vllm: str) -> object:
    return load_policy_text(TIER.replace("VLLM", vllm))


def test_gpu_hour_pricing_formula() -> None:
    # Two GPUs at $3.60/h each decode 1000 tokens/s: $7.20 per 3.6M tokens = $2 per million.
    pricing = Pricing(gpu_hourly_usd=Decimal("3.6"), tokens_per_s=1000)
    assert pricing.per_mtok(2) == (Decimal("0.5"), Decimal("2"))
    assert pricing.per_mtok(1, tokens_per_s=250) == (Decimal("1"), Decimal("4"))
    with pytest.raises(ValueError):
        pricing.per_mtok(1, tokens_per_s=0)


def test_vllm_tier_is_priced_from_its_gpus_and_ordered_against_api_tiers() -> None:
    policy = load(
        "vllm:\n      replicas: http://10.0.0.1:8000/v1, http://10.0.0.2:8000\n"
        "      launch: {tensor_parallel_size: 2}\n"
        "      pricing: {gpu_hourly_usd: 2.0, tokens_per_s: 500, input_price_ratio: 0.2}"
    )
    tier = policy.tiers["gpu"]
    # 2 GPUs x $2/h = $4/h for 500 tok/s x 3600 s = 1.8M tokens: $2.222222 per million output tokens.
    assert tier.prices.output_per_mtok == Decimal("2.222222")
    assert tier.prices.input_per_mtok == Decimal("0.444444")
    assert tier.vllm.replicas == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000"]
    assert tier.status() == (True, "vLLM, 2 replica(s) with prefix affinity")
    assert policy.by_cost() == ["gpu", "api"]
    assert tier.cost(1_000_000, 1_000_000) == Decimal("2.666666")


def test_reprice_uses_measured_throughput() -> None:
    policy = load("vllm:\n      replicas: [http://h:8000]\n      pricing: {gpu_hourly_usd: 3.6, tokens_per_s: 100}")
    assert policy.tiers["gpu"].prices.output_per_mtok == Decimal("10")
    faster = reprice(policy, {"gpu": 400.0, "api": 1e9})
    assert faster.tiers["gpu"].prices.output_per_mtok == Decimal("2.5")
    assert faster.tiers["api"] is policy.tiers["api"]
    assert reprice(policy, {"gpu": None}) is policy
    fixed = load("vllm:\n      replicas: [http://h:8000]\n      pricing: {gpu_hourly_usd: 3.6, tokens_per_s: 100, measured: false}")
    assert reprice(fixed, {"gpu": 400.0}) is fixed


def test_measured_prices_are_an_overlay_the_policy_never_holds() -> None:
    priced_by_gpus = "vllm:\n      replicas: [http://h:8000]\n      pricing: {gpu_hourly_usd: GPU, tokens_per_s: 100}"
    policy = load(priced_by_gpus.replace("GPU", "3.6"))
    overlay = MeasuredPrices()
    assert overlay.priced(policy) is policy  # nothing measured yet
    overlay.observe("gpu", "qwen-7b", 400.0)
    overlay.observe("gpu", "qwen-7b", None)  # not measured long enough this time: the last measurement stands
    priced = overlay.priced(policy)
    assert priced.tiers["gpu"].prices.output_per_mtok == Decimal("2.5")
    assert policy.tiers["gpu"].prices.output_per_mtok == Decimal("10")  # the declared policy is left as loaded
    # The overlay holds throughput, not a price: a reloaded policy with dearer GPUs is priced from the same measurement.
    assert overlay.priced(load(priced_by_gpus.replace("GPU", "7.2"))).tiers["gpu"].prices.output_per_mtok == Decimal("5")
    # Keyed by tier and model: the tier now serving another model starts from its declared price.
    other = load_policy_text(TIER.replace("VLLM", priced_by_gpus.replace("GPU", "3.6")).replace("model: qwen-7b", "model: qwen-14b"))
    assert overlay.priced(other) is other


@pytest.mark.parametrize(
    ("vllm", "fragment"),
    [
        ("prices: {input_per_mtok: 1}", "a vllm tier needs vllm.replicas"),
        ("vllm: {replicas: [ftp://x]}", "tiers.gpu.vllm.replicas.0: 'ftp://x' is not an http(s) URL"),
        (
            "prices: {input_per_mtok: 1}\n    vllm: {replicas: [http://x], pricing: {gpu_hourly_usd: 1, tokens_per_s: 1}}",
            "give prices or vllm.pricing",
        ),
        ("vllm: {replicas: [http://x], launch: {speculative: {method: eagle3, num_speculative_tokens: 3}}}", "needs `model`"),
        ("vllm: {replicas: [http://x], launch: {speculative: {method: ngram, num_speculative_tokens: 3, model: m}}}", "takes no `model`"),
        ("vllm: {replicas: [http://x], balancing: {health_interval_s: 0}}", "greater than or equal to 0.05"),
        ("vllm: {replicas: [http://x], balancing: {affinity: sticky}}", "tiers.gpu.vllm.balancing.affinity"),
    ],
)
def test_invalid_vllm_settings_are_located(vllm: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load(vllm)
    assert any(fragment in str(issue) for issue in caught.value.issues), [str(i) for i in caught.value.issues]


def test_unset_replica_variable_disables_the_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHYARD_TEST_REPLICAS", raising=False)
    policy = load("vllm: {replicas: '${SWITCHYARD_TEST_REPLICAS:-}'}")
    assert policy.tiers["gpu"].status() == (False, "no vllm replicas configured")
    monkeypatch.setenv("SWITCHYARD_TEST_REPLICAS", "http://a:8000,http://b:8000")
    policy = load("vllm: {replicas: '${SWITCHYARD_TEST_REPLICAS:-}'}")
    assert policy.tiers["gpu"].vllm.replicas == ["http://a:8000", "http://b:8000"]


def test_launch_arguments_carry_speculative_decoding() -> None:
    policy = load(
        "vllm:\n      replicas: [http://x]\n"
        "      launch:\n        tensor_parallel_size: 2\n        extra_args: [--enforce-eager]\n"
        "        speculative: {method: eagle3, num_speculative_tokens: 3, model: yuhuili/EAGLE3-LLaMA3.1-Instruct-8B}"
    )
    args = vllm_launch_args(policy.tiers["gpu"])
    assert args[:3] == ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"]
    assert "--enable-prefix-caching" in args and args[-1] == "--enforce-eager"
    spec = json.loads(args[args.index("--speculative-config") + 1])
    assert spec == {"method": "eagle3", "num_speculative_tokens": 3, "model": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B"}
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[args.index("--max-model-len") + 1] == "16384"
    assert args[args.index("--served-model-name") + 1] == "Qwen/Qwen2.5-7B-Instruct"
    plain = load("vllm:\n      replicas: [http://x]\n      launch: {prefix_caching: false}")
    args = vllm_launch_args(plain.tiers["gpu"])
    assert "--speculative-config" not in args and "--no-enable-prefix-caching" in args


def test_example_policy_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_VLLM_REPLICAS", "http://127.0.0.1:1,http://127.0.0.1:2")
    policy = load_policy(ROOT / "policies/examples/vllm-tier.yaml")
    tier = policy.tiers["self_hosted"]
    assert tier.engine == "vllm" and tier.status()[0]
    assert tier.vllm.launch.speculative is not None and tier.vllm.launch.speculative.method == "ngram"
    assert tier.vllm.pricing is not None and tier.prices.output_per_mtok > 0
