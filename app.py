"""App factory and the ``huitou`` command line.

``flask --app app run`` and ``huitou serve`` serve the webhook at ``/wechat``. Every other
command (``db upgrade``, ``export``, ``import``, ``scheduler`` …) is registered here from the
package that owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

import config as huitou_config
from bot import order_reactions, subscribe_links
from storage import db as storage_db
from storage import migrate

log = logging.getLogger("huitou")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from the environment, with ``config`` overriding it (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(huitou_config.load_config(config))
    _finish_config(app)

    database = storage_db.init_app(app)
    order_reactions.install(database, app.config)  # referral rewards, reminder withdrawal on order changes
    subscribe_links.install(database, app.config)  # consent links in shipping notices (bot/subscribe_links.py)
    app.teardown_appcontext(storage_db.close_request_session)
    if database.is_sqlite and huitou_config.parse_bool(app.config["AUTO_MIGRATE"]):
        migrate.upgrade(database)

    from handlers import register_blueprints
    from handlers.downloads import bp as downloads_bp
    from handlers.simulator import init_simulator

    register_blueprints(app)
    app.register_blueprint(downloads_bp)
    init_simulator(app)  # only when enabled: never in production mode (handlers/simulator.py)
    _register_cli(app)
    _warm_up()
    return app


def _warm_up() -> None:
    """Load the address tables once at start-up, not inside the first customer's request.

    cpca reads its region tables on first use (seconds on a busy machine); paid inside a webhook
    request it can push the first reply past WeChat's 5-second limit. Cached per process.
    """
    from storage.contact import split_address

    split_address("广东省深圳市南山区科技园路1号")


def _finish_config(app: Flask) -> None:
    cfg = app.config
    # Values from the environment arrive as strings (or JSON-parsed); normalise the ones code relies on.
    cfg["SELLER_OPENIDS"] = huitou_config.parse_list(cfg.get("SELLER_OPENIDS"))
    for name in ("WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        if cfg.get(name) is not None:
            cfg[name] = str(cfg[name]).strip() or None
    if not cfg.get("WECHAT_TOKEN"):
        if cfg.get("WECHAT_APP_ID") and cfg.get("WECHAT_APP_SECRET"):
            raise RuntimeError("WECHAT_TOKEN must be set when WECHAT_APP_ID/WECHAT_APP_SECRET are configured")
        cfg["WECHAT_TOKEN"] = huitou_config.DEV_WECHAT_TOKEN
    secret = cfg.get("SECRET_KEY")
    if secret is None:
        # Without a configured secret, signed download links only live as long as the process.
        import secrets

        secret = secrets.token_hex(32)
        log.warning("HUITOU_SECRET_KEY is not set; using a random key for this process")
    cfg["SECRET_KEY"] = str(secret)
    if cfg.get("DATABASE_URL") is not None:
        cfg["DATABASE_URL"] = str(cfg["DATABASE_URL"])


def _register_cli(app: Flask) -> None:
    from bot.referral_cli import register_cli as register_referral_cli
    from handlers.simulator_cli import demo_command
    from scheduler.cli import register_cli as register_scheduler_cli
    from storage.cli import register_cli as register_storage_cli

    register_storage_cli(app)
    register_scheduler_cli(app)
    app.cli.add_command(demo_command)
    register_referral_cli(app)
    app.cli.add_command(serve_command)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--with-scheduler", is_flag=True, help="Also run the scheduler (sweeps + outbox drain) in this process.")
@with_appcontext
def serve_command(host: str, port: int, with_scheduler: bool = False) -> None:
    """Serve the webhook (and the simulator when enabled). Use gunicorn in production."""
    from flask import current_app

    app = current_app._get_current_object()
    if with_scheduler:
        from scheduler.runner import start_background

        start_background(app)
    click.echo(f"Huitou is listening on http://{host}:{port}/  (webhook: /wechat)")
    if app.extensions.get("huitou_simulator"):
        click.echo(f"Simulator (no WeChat needed): http://{host}:{port}/simulator")
    # Not app.run(): Flask ignores it inside a `flask`/FlaskGroup command (FLASK_RUN_FROM_CLI).
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


def main() -> None:
    """Entry point of the ``huitou`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cli = FlaskGroup(create_app=create_app, add_default_commands=False, add_version_option=False,
                     help="Huitou (回头): WeChat bot for micro-sellers.")
    cli.main(prog_name="huitou")


if __name__ == "__main__":
    main()
