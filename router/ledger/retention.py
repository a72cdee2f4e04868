"""Bounds on tables that clients fill: each tenant keeps at most its newest N rows, so one tenant sending
fresh ids recycles only its own rows and cannot grow a shared table without end."""

from __future__ import annotations

from sqlalchemy import Column, Connection, Table, delete, func, select


def trim_per_tenant(connection: Connection, table: Table, newest: Column, per_tenant: int) -> None:
    """Drop each tenant's oldest rows (by ``newest``) past ``per_tenant``."""
    count = func.count().label("n")
    crowded = connection.execute(select(table.c.tenant).group_by(table.c.tenant).having(count > per_tenant)).scalars().all()
    for tenant in crowded:
        own = select(newest).where(table.c.tenant == tenant).order_by(newest.desc())
        newest_dropped = connection.execute(own.offset(per_tenant).limit(1)).scalar()
        if newest_dropped is not None:
            connection.execute(delete(table).where(table.c.tenant == tenant, newest <= newest_dropped))
