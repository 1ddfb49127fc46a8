"""product facts: what the seller says about each product (stock, usage, who it suits …)

Revision ID: 0005_product_facts
Revises: 0004_wecom
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_product_facts'
down_revision = '0004_wecom'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('facts')
