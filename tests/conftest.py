"""Fixtures: an app on a freshly migrated database (SQLite by default, PostgreSQL by URL).

Set ``HUITOU_TEST_DATABASE_URL`` to a PostgreSQL URL to run the whole suite against it; the
schema is migrated once per session and every table is truncated between tests.

Set ``HUITOU_TEST_TODAY`` to an ISO date or datetime (``2028-02-29`` or ``2027-02-05T15:30``, UTC)
to run the whole suite as if today were that moment (time-machine, with the clock ticking on):
every test must pass on any date, and ``.ci/run`` tries a few awkward ones.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text

from app import create_app
from storage import migrate
from storage.db import Database, get_db
from storage.models import Base
from tests.wechat_platform import AES_KEY, APP_ID, TOKEN, WeChatPlatform

SELLER_OPENID = "o_seller_001"
TEST_DATABASE_URL = os.environ.get("HUITOU_TEST_DATABASE_URL")
TEST_TODAY = os.environ.get("HUITOU_TEST_TODAY")


@pytest.fixture(scope="session", autouse=True)
def _suite_today():
    """Run the whole session at ``HUITOU_TEST_TODAY`` when set (see the module docstring)."""
    if not TEST_TODAY:
        yield None
        return
    moment = dt.datetime.fromisoformat(TEST_TODAY)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=True):
        yield moment


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> str:
    """A database migrated once: a SQLite file to copy, or the PostgreSQL URL itself."""
    if TEST_DATABASE_URL:
        database = Database(TEST_DATABASE_URL)
        migrate.recreate(database)
        database.dispose()
        return TEST_DATABASE_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()
    return str(path)


@pytest.fixture
def database_url(migrated_template, tmp_path) -> str:
    if TEST_DATABASE_URL:
        database = Database(TEST_DATABASE_URL)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with database.engine.begin() as conn:
            # A connection left behind by an earlier test (a server thread still finishing after a
            # failure) must not deadlock the TRUNCATE: every test starts from a clean slate.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        database.dispose()
        return TEST_DATABASE_URL
    path = tmp_path / "huitou.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_config(database_url, tmp_path) -> dict:
    """Configuration for the app under test; tests may edit it before using ``app``."""
    return {
        "TESTING": True,
        # Development mode (the simulator, the demo loader); create_app() alone is production.
        "ENV": "development",
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": False,
        "SECRET_KEY": "test-secret",
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_ENCODING_AES_KEY": AES_KEY,
        "WECHAT_APP_ID": APP_ID,
        "SELLER_OPENIDS": SELLER_OPENID,
        "TIMEZONE": "Asia/Shanghai",
        # The passive-reply budget (4 s in production) is exercised by its own tests; elsewhere a
        # busy CI machine must not turn a reply into an outbox message.
        "WEBHOOK_REPLY_BUDGET_SECONDS": 60,
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    yield app
    get_db(app).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def platform(client) -> WeChatPlatform:
    """The WeChat platform in safe mode (encrypted both ways)."""
    return WeChatPlatform(client, mode="safe")


@pytest.fixture
def db(app) -> Database:
    """The app's Database: ``with db.session() as s`` to set up, ``with db.read_session() as s`` to assert.

    Keep sessions short: on SQLite a write session holds the write lock until it ends.
    """
    return get_db(app)


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


# --- Outbound delivery: a fake WeChat API on loopback ------------------------------------------

FAKE_APP_SECRET = "test-app-secret"


@pytest.fixture
def fake_wechat():
    """A running fake WeChat API (tests.fake_wechat_api); point WECHAT_API_BASE_URL at ``.base_url``."""
    from tests.fake_wechat_api import FakeWeChatAPI

    api = FakeWeChatAPI(appid=APP_ID, secret=FAKE_APP_SECRET).start()
    yield api
    api.stop()


# --- WeCom: a fake WeCom API on loopback and the app configured for it (tests/fake_wecom_api.py) ---


@pytest.fixture
def fake_wecom():
    from tests.fake_wecom_api import FakeWeComAPI
    from tests.wecom_platform import CORP_ID, SECRET, SELLER_USERID

    api = FakeWeComAPI(CORP_ID, SECRET, members=[SELLER_USERID, "Helper"]).start()
    yield api
    api.stop()


@pytest.fixture
def wecom_settings(app_config, fake_wecom) -> dict:
    """Configure WeCom in ``app_config`` (before the app is built)."""
    from tests.wecom_platform import AES_KEY, AGENT_ID, CORP_ID, SECRET, SELLER_USERID
    from tests.wecom_platform import TOKEN as WECOM_TOKEN

    app_config.update(
        {
            "WECOM_CORP_ID": CORP_ID,
            "WECOM_AGENT_ID": str(AGENT_ID),
            "WECOM_SECRET": SECRET,
            "WECOM_TOKEN": WECOM_TOKEN,
            "WECOM_ENCODING_AES_KEY": AES_KEY,
            "WECOM_API_BASE_URL": fake_wecom.base_url,
            "SELLER_WECOM_USERIDS": SELLER_USERID,
        }
    )
    return app_config


@pytest.fixture
def wecom(wecom_settings, client):
    """WeCom's callback side in front of /wecom (tests/wecom_platform.py)."""
    from tests.wecom_platform import WeComPlatform

    return WeComPlatform(client)
