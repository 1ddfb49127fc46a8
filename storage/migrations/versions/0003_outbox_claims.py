"""outbox claims: an owner token and a database-clock claim time per claimed row

Revision ID: 0003_outbox_claims
Revises: 0002_retention
Create Date: 2026-12-04 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_outbox_claims'
down_revision = '0002_retention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(), nullable=True))
    # Rows in flight during the upgrade keep the time their drainer last touched them.
    op.execute("UPDATE outbox SET claimed_at = updated_at WHERE status IN ('claimed', 'sending')")


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_token')
