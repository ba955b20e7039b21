"""Alembic environment: the URL comes from the Config (set by marketplace.store.database), else settings."""

from __future__ import annotations

from sqlalchemy import engine_from_config, pool

from alembic import context
from marketplace.store.models import Base

config = context.config
if not config.get_main_option("sqlalchemy.url"):
    from marketplace.settings import Settings

    config.set_main_option("sqlalchemy.url", Settings.from_environment().database_url.replace("%", "%%"))

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
