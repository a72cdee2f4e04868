"""What a request needs of a tier (tools, structured output, images, a long enough context) and which
tiers can serve it, as the policy declares (policies/schema.py `Tier.capabilities`). Routing only
considers capable tiers, so `auto` picks the cheapest capable tier by quality; when none is, the
request is a 400 that names what is missing rather than an engine's failure."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from engines.base import estimate_tokens, messages_text
from policies.schema import Policy, Tier
from router.errors import APIError
from router.schemas import ChatRequest

# A chat template's markers around one message (router/accounting.py's bound uses the same figure;
# not imported from there, as accounting imports the gateway, which imports this module).
TEMPLATE_TOKENS_PER_MESSAGE = 8
# What each need is called in errors, and the request field a client would change.
_PARAMS = {"tools": "tools", "json_schema": "response_format", "images": "messages", "context": "messages"}


def estimate_prompt_tokens(messages: list[dict[str, object]], tools: list[dict[str, object]] | None = None) -> int:
    """~4 characters a token of the text and the tools' JSON, plus the chat template's markers per message.
    An estimate, not prompt_token_bound's upper bound (a byte a token): that would keep a prompt of a
    quarter of a window off the tier."""
    text = messages_text(messages) + (orjson.dumps(tools).decode() if tools else "")
    return estimate_tokens(text) + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)


@dataclass(frozen=True)
class Needs:
    tools: bool
    json_schema: bool
    images: bool
    context_tokens: int  # estimated prompt tokens plus the answer's limit (or one token)

    def missing(self, tier: Tier) -> list[str]:
        """What this request needs that the tier lacks, in words."""
        have = tier.capabilities_or_default()
        gaps = [need for need in ("tools", "json_schema", "images") if getattr(self, need) and not getattr(have, need)]
        window = tier.context_tokens()
        if self.context_tokens > window:
            gaps.append(f"context ({self.context_tokens} tokens estimated > {window})")
        return gaps


def needs(chat: ChatRequest) -> Needs:
    images = any(part.get("type") == "image_url" for m in chat.messages if isinstance(m.content, list) for part in m.content)
    structured = bool(chat.response_format) and chat.response_format.get("type") in ("json_schema", "json_object")  # type: ignore[union-attr]
    tools = bool(chat.tools) and chat.tool_choice != "none"
    prompt = estimate_prompt_tokens(chat.plain_messages, chat.tools)
    return Needs(tools=tools, json_schema=structured, images=images, context_tokens=prompt + (chat.output_limit() or 1))


def capable(policy: Policy, tiers: list[str], chat: ChatRequest, need: Needs | None = None) -> list[str]:
    """The tiers (of `tiers`, in order) that can serve the request; a 400 naming what is missing when none can.
    `need`: the request's needs when the caller already has them (they cost a pass over the whole prompt)."""
    need = need or needs(chat)
    fit = [t for t in tiers if not need.missing(policy.tiers[t])]
    if fit or not tiers:
        return fit
    gaps = {t: need.missing(policy.tiers[t]) for t in tiers}
    raise refusal(gaps)


def refusal(gaps: dict[str, list[str]]) -> APIError:
    first = next(iter(gaps.values()))[0].split(" ")[0]
    detail = "; ".join(f"{tier} lacks {', '.join(missing)}" for tier, missing in gaps.items())
    return APIError(
        400,
        f"no enabled tier can serve this request: {detail}",
        code=f"{first}_unsupported" if first != "context" else "context_length_exceeded",
        param=_PARAMS.get(first),
    )


def lint(policy: Policy) -> list[str]:
    """Warnings about capabilities (the policy still loads): a capability no tier has, so such requests are
    all refused; a fallback to a tier that lacks what the tier it stands in for serves, so a request that
    needs it fails over to an answer it cannot get (a smaller window is not flagged: falling back to a
    smaller model is what fallbacks are for); a llama.cpp tier declaring images it cannot read."""
    warnings = []
    for need in ("tools", "json_schema", "images"):
        if not any(getattr(t.capabilities_or_default(), need) for t in policy.tiers.values()):
            warnings.append(f"no tier has {need}: every request needing {need} gets a 400 ({need}_unsupported)")
    for source, targets in policy.fallbacks.items():
        if source not in policy.tiers:
            continue
        have = policy.tiers[source].capabilities_or_default()
        for target in targets:
            if target not in policy.tiers:
                continue
            other = policy.tiers[target]
            lacks = [n for n in ("tools", "json_schema", "images") if getattr(have, n) and not getattr(other.capabilities_or_default(), n)]
            if lacks:
                warnings.append(f"fallbacks.{source}: {target} lacks {', '.join(lacks)} that {source} serves")
    for name, tier in policy.tiers.items():
        if not tier.reads_images and tier.capabilities is not None and tier.capabilities.images:
            warnings.append(f"tiers.{name}: images: true, but the {tier.engine} engine reads text only")
    return warnings
