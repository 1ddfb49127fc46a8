"""subscription-notice consents: one row per "allow" a customer tapped, used by one notice

Revision ID: 0006_subscribe_consents
Revises: 0005_product_facts
Create Date: 2026-12-06 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006_subscribe_consents'
down_revision = '0005_product_facts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subscribe_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('popup_scene', sa.String(length=10), nullable=True),
    sa.Column('accepted_at', sa.DateTime(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('msgid', sa.String(length=64), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_subscribe_consent_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribe_consent'))
    )
    with op.batch_alter_table('subscribe_consent', schema=None) as batch_op:
        batch_op.create_index('ix_subscribe_consent_holder', ['customer_id', 'template_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscribe_consent', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribe_consent_holder')
    op.drop_table('subscribe_consent')
