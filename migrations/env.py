"""Alembic environment: runs migrations on the async engine fieldwork uses (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from domain.db import create_engine, is_sqlite
from domain.migrate import compare_type
from domain.models import metadata

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DATABASE_URL", "sqlite:///./fieldwork.db"
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=compare_type,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=is_sqlite(_url()),
    )


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, compare_type=compare_type)
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode copies a table and drops the old one, which the foreign keys of the rows pointing at it would
        # refuse. The pragma only takes effect outside a transaction, so it goes to the driver before SQLAlchemy
        # begins one; the check below makes sure the copies left every reference whole.
        connection.connection.cursor().execute("PRAGMA foreign_keys=OFF")
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")


async def run_online() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
