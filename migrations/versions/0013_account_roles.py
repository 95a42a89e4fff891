"""organisers.role: `organiser` (books slots through the API and the pages) or `ops` (watches and acts
on the ops board). Ops accounts are rows of the same table so that one token lookup, one revoke and
one rotate serve both; names stay unique across both kinds.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # A plain ADD COLUMN: a batch operation would rebuild the table and drop its timestamp triggers.
        op.execute(
            "ALTER TABLE organisers ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'organiser' "
            "CONSTRAINT ck_organisers_role CHECK (role IN ('organiser', 'ops'))"
        )
        return
    op.add_column(
        "organisers", sa.Column("role", sa.String(length=16), nullable=False, server_default="organiser")
    )
    op.create_check_constraint("ck_organisers_role", "organisers", "role IN ('organiser', 'ops')")


def downgrade() -> None:
    op.execute("DELETE FROM organisers WHERE role = 'ops'")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column with its own CHECK in place (no table rebuild, triggers kept).
        op.execute("ALTER TABLE organisers DROP COLUMN role")
        return
    op.drop_column("organisers", "role")  # its check constraint goes with it
