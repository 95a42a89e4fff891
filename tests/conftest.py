"""Shared fixtures: real PostgreSQL and Redis (never skipped: unreachable means failed)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _postgres_admin_url() -> str:
    return os.environ.get("ONAIR_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = _postgres_admin_url()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at ONAIR_TEST_POSTGRES_URL={url} is unreachable: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"onair_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("ONAIR_TEST_REDIS_URL", DEFAULT_REDIS)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis at ONAIR_TEST_REDIS_URL={url} is unreachable: {exc}")
    finally:
        client.close()
    return url


@pytest.fixture
def sqlite_url(tmp_path: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path}/onair.db"
