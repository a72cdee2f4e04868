"""Tenancy hardening: team budgets per tenant, one feedback verdict per request, usage beyond reservations.

- budgets.tenant: a team budget covers that team of that tenant only. Team budgets made before this
  keep tenant '' and, as before, cover the team of every tenant (the gateway warns about them).
- feedback: one row per request (the last verdict wins); older duplicates keep their latest row.
- requests.excess_nanousd: cost an upstream reported beyond the request's reservation, kept for
  reconciliation instead of being charged past a budget.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("budgets") as batch:
        batch.add_column(sa.Column("tenant", sa.String(128), nullable=False, server_default=""))
        batch.drop_constraint("uq_budget_scope_period", type_="unique")
        batch.create_unique_constraint("uq_budget_scope_tenant_period", ["scope", "tenant", "scope_id", "period"])
    op.execute("DELETE FROM feedback WHERE id NOT IN "
               "(SELECT max_id FROM (SELECT MAX(id) AS max_id FROM feedback GROUP BY request_id) AS latest)")
    op.create_index("uq_feedback_request_id", "feedback", ["request_id"], unique=True)
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("excess_nanousd", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("excess_nanousd")
    op.drop_index("uq_feedback_request_id", "feedback")
    with op.batch_alter_table("budgets") as batch:
        batch.drop_constraint("uq_budget_scope_tenant_period", type_="unique")
        batch.create_unique_constraint("uq_budget_scope_period", ["scope", "scope_id", "period"])
        batch.drop_column("tenant")
