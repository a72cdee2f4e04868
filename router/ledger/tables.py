"""Ledger tables (SQLAlchemy Core). Money is integer nano-dollars: a token of a $0.15/Mtok model
costs 150 nano-dollars, which micro-dollars could not hold."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("tenant", String(128), nullable=False, index=True),
    Column("team", String(128), nullable=False),
    Column("key_id", String(32), nullable=True),
    Column("requested_model", String(256), nullable=True),
    Column("tier", String(64), nullable=True, index=True),
    Column("model", String(256), nullable=True),
    Column("routed", Boolean, nullable=False, default=False),
    Column("route_score", Float, nullable=True),
    Column("decision", JSON, nullable=True),
    Column("fallback_from", String(64), nullable=True),
    Column("messages", JSON, nullable=True),
    Column("response", Text, nullable=True),
    Column("params", JSON, nullable=True),
    Column("stream", Boolean, nullable=False, default=False),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cost_nanousd", BigInteger, nullable=False, default=0),
    Column("saved_nanousd", BigInteger, nullable=False, default=0),
    Column("latency_ms", Float, nullable=True),
    Column("overhead_ms", Float, nullable=True),
    Column("cache", String(16), nullable=False, default="off"),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("error", Text, nullable=True),
    # Cost an upstream reported beyond the request's reservation: not charged, kept for reconciliation.
    Column("excess_nanousd", BigInteger, nullable=False, default=0, server_default="0"),
    # The API surface the request came through: chat, responses, messages, completions, embeddings.
    Column("door", String(16), nullable=False, default="chat", server_default="chat"),
    # Agent loops: which conversation a request was a step of, and which step (assistant turns before it).
    Column("conversation_id", String(64), nullable=True, index=True),
    Column("step", Integer, nullable=True),
    # What routing and caching cost besides answers (migration 0007): the cascade's earlier stages (already
    # part of cost_nanousd, kept apart so savings can be shown net of them) and the gateway's own classifier
    # and embedding compute, priced at the policy's accounting.compute_usd_per_cpu_hour (router/overhead.py).
    Column("cascade_nanousd", BigInteger, nullable=False, default=0, server_default="0"),
    Column("overhead_nanousd", BigInteger, nullable=False, default=0, server_default="0"),
)


def _rollup(name: str, *keys: Column) -> Table:  # type: ignore[type-arg]
    """Sums of request rows per bucket, kept by a trigger on every insert into `requests` (migration
    0007), so the console reads a period's figures without scanning the period's rows. `tier`, `tenant`
    and such are '' where the request had none: a primary key cannot hold NULL."""
    return Table(
        name,
        metadata,
        *keys,
        Column("hit", Boolean, primary_key=True),  # answered from the cache
        Column("ok", Boolean, primary_key=True),  # status 'ok'
        Column("requests", BigInteger, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("cost_nanousd", BigInteger, nullable=False),
        Column("saved_nanousd", BigInteger, nullable=False),
        Column("cascade_nanousd", BigInteger, nullable=False),
        Column("overhead_nanousd", BigInteger, nullable=False),
    )


# Per hour and tier: the whole ledger's figures (the console's overview, trends and export without a scope).
requests_hourly = _rollup(
    "requests_hourly", Column("hour", DateTime(timezone=True), primary_key=True), Column("tier", String(64), primary_key=True)
)
# Per day, tier and key (with its tenant and team): any scope's figures, and spend per team, tenant or key.
requests_daily = _rollup(
    "requests_daily",
    Column("day", DateTime(timezone=True), primary_key=True),
    Column("tenant", String(128), primary_key=True),
    Column("team", String(128), primary_key=True),
    Column("key_id", String(32), primary_key=True),
    Column("tier", String(64), primary_key=True),
)
# Answered requests per day and one of team, tenant or key ('scope'; 'value' names which): spend per team,
# tenant or key over a period, from a tenth of requests_daily's rows.
requests_daily_scope = Table(
    "requests_daily_scope",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("day", DateTime(timezone=True), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("hits", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_nanousd", BigInteger, nullable=False),
    Column("saved_nanousd", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
# Routed requests per hour, tier and route-score bin (twentieths of [0, 1]): the routing page's histogram.
route_scores_hourly = Table(
    "route_scores_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("tier", String(64), primary_key=True),
    Column("bin", Integer, primary_key=True),
    Column("requests", BigInteger, nullable=False),
)

# Spend on routing that no client request carries (migration 0008): `switchyard learn`'s calls to the tiers
# ('label_answer': answers to exported prompts) and to its judge ('judge': verdicts), one row per labeling run,
# tier and kind. The console's and `report spend`'s net savings subtract it (router/reports.py learn_spend).
overhead_spend = Table(
    "overhead_spend",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("tier", String(64), nullable=False),
    Column("model", String(256), nullable=False),
    Column("calls", Integer, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_nanousd", BigInteger, nullable=False),
    Column("source", String(128), nullable=False),  # the run that spent it, e.g. 'learn 20261201T120000'
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("tenant", String(128), nullable=False, index=True),
    Column("team", String(128), nullable=False),
    Column("name", String(256), nullable=True),
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

budgets = Table(
    "budgets",
    metadata,
    Column("budget_id", String(32), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("scope_id", String(128), nullable=False),
    Column("period", String(16), nullable=False),
    Column("limit_nanousd", BigInteger, nullable=False),
    Column("hard", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A team budget's tenant ('' for other scopes, and for team budgets older than per-tenant ones).
    Column("tenant", String(128), nullable=False, default="", server_default=""),
    UniqueConstraint("scope", "tenant", "scope_id", "period", name="uq_budget_scope_tenant_period"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), ForeignKey("requests.request_id"), nullable=False, unique=True),  # the last verdict wins
    Column("score", Float, nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Responses kept for `previous_response_id` and GET /v1/responses/{id} (router/doors/stored_responses.py):
# only when the policy stores prompts and the client did not send `store: false`.
stored_responses = Table(
    "stored_responses",
    metadata,
    Column("response_id", String(40), primary_key=True),
    Column("tenant", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # The conversation as chat messages, this response's output last; the request's instructions are not
    # part of it, as a follow-up's own instructions replace them.
    Column("history", JSON, nullable=False),
    Column("response", JSON, nullable=False),  # the response object, as the client received it
)

# Shared state that must outlive a process and be the same on every replica (migration 0006).
# Agent loops (router/conversations.py): the tier a conversation's last step was planned on. Keyed by tenant
# as well, since the conversation id is the client's to name. Rows idle past a day are swept.
conversations = Table(
    "conversations",
    metadata,
    Column("tenant", String(128), primary_key=True),
    Column("conversation_id", String(64), primary_key=True),
    Column("tier", String(64), nullable=False),
    Column("step", Integer, nullable=False),
    Column("mid_chain", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
)

# Console sessions (router/console/auth.py): an HMAC of the cookie's token keyed by the admin key, never the
# token itself, so neither a copy of this table nor a changed admin key leaves a session that works.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)
