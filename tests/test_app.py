"""The app factory, configuration from the environment, and the schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app import create_app
from storage import migrate
from storage.db import get_db
from storage.models import Base


def test_fresh_sqlite_install_upgrades_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("HUITOU_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh' / 'huitou.db'}")
    app = create_app()
    database = get_db(app)
    assert migrate.is_up_to_date(database)
    assert "customer" in inspect(database.engine).get_table_names()
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_default_database_is_a_sqlite_file_in_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("HUITOU_DATABASE_URL", raising=False)
    app = create_app({"AUTO_MIGRATE": False})
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert app.config["DATABASE_URL"].endswith("instance/huitou.db")


def test_environment_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("HUITOU_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("HUITOU_SELLER_OPENIDS", "o_a, o_b")
    monkeypatch.setenv("HUITOU_SECRET_KEY", "12345")
    monkeypatch.setenv("HUITOU_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("WECHAT_TOKEN", "tok")
    monkeypatch.setenv("WECHAT_API_BASE_URL", "http://127.0.0.1:9/cgi-bin/")
    app = create_app({"AUTO_MIGRATE": False})
    assert app.config["SELLER_OPENIDS"] == ["o_a", "o_b"]
    assert app.config["SECRET_KEY"] == "12345"
    assert app.config["WECHAT_TOKEN"] == "tok"
    assert app.config["WECHAT_API_BASE_URL"] == "http://127.0.0.1:9/cgi-bin/"


def test_migrations_match_the_models(app):
    """Every model change comes with an Alembic migration."""
    database = get_db(app)
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_db_upgrade_command(runner, app):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    with get_db(app).engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() >= 1
