"""organisers.role: `organiser` (books slots through the API and the pages) or `ops` (watches and acts
on the ops board). Ops accounts are rows of the same table so that one token lookup, one revoke and
one rotate serve both; names stay unique across both kinds.

Revision ID: 0013
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisers") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="organiser"))
        batch.create_check_constraint("ck_organisers_role", "role IN ('organiser', 'ops')")


def downgrade() -> None:
    op.execute("DELETE FROM organisers WHERE role = 'ops'")
    with op.batch_alter_table("organisers") as batch:
        batch.drop_constraint("ck_organisers_role", type_="check")
        batch.drop_column("role")
