"""segment moments: when each customer's stage, class or RFM next change by time alone, and the
12-month facts their RFM and class are ranked by (the daily recompute becomes incremental)

Existing customers get ``segment_due_at`` NULL, which means "recompute": the first daily run after
the upgrade recomputes the whole pool once and stores every moment.

Revision ID: 0007_segment_moments
Revises: 0006_subscribe_consents
Create Date: 2026-12-06 19:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_segment_moments'
down_revision = '0006_subscribe_consents'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segment_due_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customer_segment_due_at'), ['segment_due_at'], unique=False)
    op.create_table('segment_window',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_segment_window_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_segment_window'))
    )
    with op.batch_alter_table('segment_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segment_window_cents'), ['cents'], unique=False)
        batch_op.create_index(batch_op.f('ix_segment_window_last_at'), ['last_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_segment_window_orders'), ['orders'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('segment_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segment_window_orders'))
        batch_op.drop_index(batch_op.f('ix_segment_window_last_at'))
        batch_op.drop_index(batch_op.f('ix_segment_window_cents'))
    op.drop_table('segment_window')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_segment_due_at'))
        batch_op.drop_column('segment_due_at')
