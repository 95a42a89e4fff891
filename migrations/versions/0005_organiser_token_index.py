"""A unique index on organisers.token_hash, so a bearer token finds its organiser in one index probe.

Each API request looked its token up by reading every organiser and comparing hashes (about 1 s per
request with 50,000 organisers, docs/performance.md). Tokens are 256 random bits stored as their
sha256 hex, so the hash is a deterministic, unguessable lookup key; unique, since one hash must name
one organiser. The upgrade refuses, naming them, organisers that share a hash (only hand-inserted rows
can); give all but one of them another token_hash (or delete them) and run it again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_organisers_token_hash"


def _refuse_shared_hashes() -> None:
    shared = op.get_bind().execute(
        sa.text(
            "SELECT name FROM organisers WHERE token_hash IN "
            "(SELECT token_hash FROM organisers GROUP BY token_hash HAVING COUNT(*) > 1) ORDER BY name"
        )
    )
    names = [row[0] for row in shared]
    if names:
        raise RuntimeError(
            f"organisers {', '.join(repr(n) for n in names)} share a token hash: give all but one of "
            "each group another token_hash (or delete them), then run `onair db upgrade` again"
        )


def upgrade() -> None:
    _refuse_shared_hashes()
    op.create_index(INDEX, "organisers", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="organisers")
