"""organisers.feed_token_hash: the sha256 hex of each organiser's calendar feed secret.

An organiser's calendar app subscribes to `/v1/calendar/<secret>.ics`, which carries no
Authorization header, so the secret in the address is the credential. Like the API token, only its
hash is stored, under a unique index so the feed is found in one lookup. NULL until a feed is
issued (`onair organiser add` issues one; `onair organiser feed NAME` issues a new one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("organisers", sa.Column("feed_token_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_organisers_feed_token_hash", "organisers", ["feed_token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_organisers_feed_token_hash", table_name="organisers")
    with op.batch_alter_table("organisers") as batch:
        batch.drop_column("feed_token_hash")
