"""The app factory, configuration from the environment (checked once, at start), and the schema."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app import create_app
from config import DEV_WECHAT_TOKEN, ConfigError, Settings
from storage import migrate
from storage.db import get_db
from storage.models import Base

ROOT = Path(__file__).resolve().parent.parent


def test_fresh_sqlite_install_upgrades_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("HUITOU_ENV", "development")
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
    app = create_app({"AUTO_MIGRATE": False, "ENV": "development"})
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


# --- fail safe: production is the default and needs its secrets ------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any Huitou or platform setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUITOU_", "WECHAT_", "WECOM_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture
def bare_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("HUITOU_", "WECHAT_", "WECOM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUITOU_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")


@pytest.mark.parametrize(
    ("missing", "present"),
    [
        ("WECHAT_TOKEN", {"HUITOU_SECRET_KEY": "k" * 32}),
        ("HUITOU_SECRET_KEY", {"WECHAT_TOKEN": "tok"}),
    ],
)
def test_production_refuses_to_start_without_its_secrets(bare_env, monkeypatch, missing, present):
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        create_app()
    message = str(caught.value)
    assert "\n" not in message and missing in message and "production" in message


def test_explicit_production_refuses_the_dev_token(bare_env, monkeypatch):
    monkeypatch.setenv("HUITOU_ENV", "development")
    monkeypatch.setenv("WECHAT_APP_ID", "wx1")
    monkeypatch.setenv("WECHAT_APP_SECRET", "real")  # real credentials are production whatever ENV says
    monkeypatch.setenv("HUITOU_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("WECHAT_TOKEN", DEV_WECHAT_TOKEN)
    with pytest.raises(ConfigError, match="WECHAT_TOKEN is the public development token"):
        create_app()


def test_create_app_is_production_unless_development_is_explicit(bare_env, monkeypatch):
    monkeypatch.setenv("WECHAT_TOKEN", "tok")
    monkeypatch.setenv("HUITOU_SECRET_KEY", "k" * 32)
    app = create_app()
    assert app.config["ENV"] == "production"
    assert app.test_client().get("/simulator/").status_code == 404
    get_db(app).dispose()

    for name in ("WECHAT_TOKEN", "HUITOU_SECRET_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HUITOU_ENV", "development")
    dev = create_app()
    assert dev.config["ENV"] == "development" and dev.config["WECHAT_TOKEN"] == DEV_WECHAT_TOKEN
    assert dev.test_client().get("/simulator/").status_code == 200
    get_db(dev).dispose()


@pytest.mark.slow
def test_gunicorn_without_the_secrets_exits_at_once_with_one_clear_line(tmp_path):
    env = clean_env(HUITOU_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}", HUITOU_SECRET_KEY="k" * 32)
    started = time.monotonic()
    # One worker: with several, gunicorn's master may itself print a traceback when a second worker's
    # exit arrives while it is already halting (its own race; it still exits non-zero).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-b",
            "127.0.0.1:0",
            "--chdir",
            str(ROOT),
            "app:create_app()",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    lines = [line for line in result.stderr.splitlines() if "WECHAT_TOKEN" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("production mode refuses to start: WECHAT_TOKEN is not set")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "g.db").exists()  # refused before touching the database


def huitou(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import app; app.main()", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--host", "0.0.0.0", "--port", "1"],  # off loopback: production
        ["scheduler", "tick"],  # anything but `serve` on loopback: production
    ],
)
def test_the_cli_refuses_production_without_secrets_in_one_line(tmp_path, args):
    env = clean_env(HUITOU_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}")
    result = huitou(*args, env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("Error: production mode refuses to start:")
    assert "WECHAT_TOKEN" in result.stderr and "HUITOU_SECRET_KEY" in result.stderr
    assert not (tmp_path / "c.db").exists()


# --- configuration checked once, at start ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "HUITOU_DELIVERY_TEMPLATES",
            '{"ship": {"template_id": "t1"',
            "HUITOU_DELIVERY_TEMPLATES: not valid JSON",
        ),
        ("HUITOU_DELIVERY_TEMPLATES", '{"ship": "t1"}', "needs an object with a non-empty template_id"),
        (
            "HUITOU_DELIVERY_QUIET_HOURS",
            "21-9",
            "HUITOU_DELIVERY_QUIET_HOURS: expected a local time range HH:MM-HH:MM",
        ),
        (
            "HUITOU_DELIVERY_QUIET_HOURS",
            "25:00-09:00",
            "HUITOU_DELIVERY_QUIET_HOURS: expected a local time range",
        ),
        (
            "HUITOU_DELIVERY_MARKETING_CAP",
            "one",
            "HUITOU_DELIVERY_MARKETING_CAP: expected a whole number >= 0, got 'one'",
        ),
        ("HUITOU_DELIVERY_BATCH_SIZE", "0", "HUITOU_DELIVERY_BATCH_SIZE: expected a whole number >= 1"),
        (
            "HUITOU_SCHEDULER_INTERVAL_SECONDS",
            "soon",
            "HUITOU_SCHEDULER_INTERVAL_SECONDS: expected a number > 0",
        ),
        ("HUITOU_DELIVERY_TOKEN_ENDPOINT", "fast", "expected one of stable, classic"),
        ("HUITOU_TIMEZONE", "Mars/Olympus", "HUITOU_TIMEZONE: expected an IANA time zone name"),
        ("HUITOU_AUTO_MIGRATE", "perhaps", "HUITOU_AUTO_MIGRATE: expected true or false"),
        ("HUITOU_ENV", "staging", "HUITOU_ENV: expected one of development, production"),
        (
            "HUITOU_RETENTION_FESTIVALS",
            "spring-festival,halloween",
            "HUITOU_RETENTION_FESTIVALS: unknown festivals",
        ),
        ("HUITOU_RETENTION_TEXTS", '{"nope": "x"}', "HUITOU_RETENTION_TEXTS: unknown text names"),
        ("HUITOU_RETENTION_TEXTS", '{"nope": ', "HUITOU_RETENTION_TEXTS: Expecting value"),
        ("HUITOU_RETENTION_TEXTS", "/nonexistent/texts.json", "HUITOU_RETENTION_TEXTS: [Errno 2]"),
        (
            "WECHAT_ENCODING_AES_KEY",
            "short",
            "WECHAT_ENCODING_AES_KEY: expected the 43-character EncodingAESKey",
        ),
        ("HUITOU_PUBLIC_URL", "shop.example.com", "HUITOU_PUBLIC_URL: expected an http:// or https:// URL"),
    ],
)
def test_a_malformed_setting_stops_the_start_naming_the_variable(
    app_config, monkeypatch, name, value, expected
):
    monkeypatch.setenv(name, value)
    for key in list(app_config):
        if f"HUITOU_{key}" == name or key == name:
            del app_config[key]  # the test config would override the environment
    with pytest.raises(ConfigError) as caught:
        create_app(app_config)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_secrets_are_never_echoed_in_errors(app_config, monkeypatch):
    app_config.pop("WECHAT_ENCODING_AES_KEY")
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", "not-the-real-key-but-secret")
    with pytest.raises(ConfigError) as caught:
        create_app(app_config)
    assert "WECHAT_ENCODING_AES_KEY" in str(caught.value) and "not-the-real-key" not in str(caught.value)


@pytest.mark.slow
def test_the_cli_stops_on_a_malformed_setting_with_one_line_and_no_traceback(tmp_path):
    env = clean_env(
        HUITOU_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}",
        HUITOU_ENV="development",
        HUITOU_DELIVERY_QUIET_HOURS="9pm-9am",
    )
    result = huitou("scheduler", "tick", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: configuration error: HUITOU_DELIVERY_QUIET_HOURS: expected a local time "
        "range HH:MM-HH:MM (e.g. 21:00-09:00) or off, got '9pm-9am'"
    )
    assert not (tmp_path / "c.db").exists()


def test_settings_are_normalised_into_app_config(app_config, monkeypatch):
    monkeypatch.setenv("HUITOU_DELIVERY_TEMPLATES", '{"ship": {"template_id": "t1", "fields": {"k": "v"}}}')
    monkeypatch.setenv("HUITOU_DELIVERY_QUIET_HOURS", " 9:30 – 8:05 ")
    monkeypatch.setenv("HUITOU_DELIVERY_MARKETING_CAP", "2")
    monkeypatch.setenv("HUITOU_SIMULATOR_AUTO_TICK", "no")
    monkeypatch.setenv("HUITOU_RETENTION_WINBACK_STEP_DAYS", "0, 10，30")
    monkeypatch.setenv("HUITOU_SELLER_WECOM_USERIDS", "zhangsan, lisi")
    monkeypatch.setenv("WECOM_CORP_ID", "ww1")
    monkeypatch.setenv("HUITOU_SOMETHING_UNDECLARED", "kept")
    app = create_app(app_config)
    config = app.config
    assert config["DELIVERY_TEMPLATES"] == {"ship": {"template_id": "t1", "fields": {"k": "v"}}}
    assert config["DELIVERY_QUIET_HOURS"] == "09:30-08:05"
    assert config["DELIVERY_MARKETING_CAP"] == 2 and config["SIMULATOR_AUTO_TICK"] is False
    assert config["RETENTION_WINBACK_STEP_DAYS"] == [0, 10, 30]
    assert config["SELLER_OPENIDS"] == ["o_seller_001"] and config["SELLER_WECOM_USERIDS"] == [
        "zhangsan",
        "lisi",
    ]
    assert (
        config["WECOM_CORP_ID"] == "ww1"
        and config["WECOM_API_BASE_URL"] == "https://qyapi.weixin.qq.com/cgi-bin/"
    )
    assert config["SOMETHING_UNDECLARED"] == "kept" and config["TESTING"] is True
    settings = app.extensions["huitou_settings"]
    assert isinstance(settings, Settings) and settings.DELIVERY_MARKETING_CAP == 2
    assert "test-secret" not in repr(settings)
    get_db(app).dispose()


def test_every_setting_read_in_the_code_is_declared():
    """``config["X"]`` / ``config.get("X")`` in the packages names a declared setting (or Flask's own)."""
    import re

    read = set()
    for package in ("bot", "handlers", "scheduler", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            read |= set(
                re.findall(r"config(?:\[|\.get\()\s*f?[\"']([A-Z][A-Z0-9_]+)[\"']", path.read_text("utf-8"))
            )
    assert read and read <= set(Settings.model_fields), sorted(read - set(Settings.model_fields))


# --- help has no side effects -------------------------------------------------------------------------


@pytest.mark.slow
def test_help_opens_no_database_and_prints_no_warning(tmp_path):
    database = tmp_path / "never.db"
    env = clean_env(HUITOU_DATABASE_URL=f"sqlite:///{database}")
    commands = [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["scheduler"],
        ["scheduler", "tick"],
        ["demo"],
        ["export"],
        ["import"],
        ["referral"],
        ["referral", "qr"],
    ]
    for args in commands:
        result = huitou(*args, "--help", env=env, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith("Usage: huitou") and result.stderr == "", (args, result.stderr)
    assert "--app" not in huitou("--help", env=env, cwd=tmp_path).stdout
    assert list(tmp_path.iterdir()) == []  # no database, no instance folder
    assert not database.exists()
