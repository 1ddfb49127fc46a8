"""App factory and the ``huitou`` command line.

``flask --app app run`` and ``huitou serve`` serve the webhook at ``/wechat``. Every other
command (``db upgrade``, ``export``, ``import``, ``scheduler`` …) is registered here from the
package that owns it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

import config as huitou_config
from bot import order_reactions, subscribe_links
from bot.wecom_events import member_seller_openids
from storage import db as storage_db
from storage import migrate

log = logging.getLogger("huitou")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from the environment, with ``config`` overriding it (tests).

    Every setting is validated here (``config.load_settings``): a malformed or, in production mode,
    missing one raises :class:`config.ConfigError`, whose message is one line naming the variable.
    Production mode is the default: only ``ENV=development`` (``huitou serve`` on loopback sets it
    unless ``HUITOU_ENV`` says otherwise) enables the simulator, the demo loader and the dev token.
    """
    settings, values = huitou_config.load_settings(config)
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(values)
    app.extensions["huitou_settings"] = settings
    # WeCom: the listed members are sellers too, as "wecom:<userid>" (bot/wecom_events.py).
    app.config["SELLER_OPENIDS"] = [
        *app.config["SELLER_OPENIDS"],
        *(o for o in member_seller_openids(app.config) if o not in app.config["SELLER_OPENIDS"]),
    ]
    _check_domain_settings(app)

    database = storage_db.init_app(app)
    order_reactions.install(database, app.config)  # referral rewards, reminder withdrawal on order changes
    subscribe_links.install(
        database, app.config
    )  # consent links in shipping notices (bot/subscribe_links.py)
    app.teardown_appcontext(storage_db.close_request_session)
    if database.is_sqlite and huitou_config.parse_bool(app.config["AUTO_MIGRATE"]):
        migrate.upgrade(database)

    from handlers import register_blueprints
    from handlers.downloads import bp as downloads_bp
    from handlers.simulator.views import init_simulator

    register_blueprints(app)
    app.register_blueprint(downloads_bp)
    init_simulator(app)  # only when enabled: never in production mode (handlers/simulator.py)
    _register_cli(app)
    _warm_up()
    return app


def _check_domain_settings(app: Flask) -> None:
    """Run the packages' own settings readers once, so what they refuse stops the start, not a tick."""
    from bot.delivery.rules import DeliverySettings
    from scheduler.retention import load_texts, settings_from

    readers = (
        ("RETENTION_TEXTS", lambda cfg: load_texts(cfg.get("RETENTION_TEXTS"))),
        ("DELIVERY_*", DeliverySettings.from_config),
        ("RETENTION_*", settings_from),
    )
    for fallback, reader in readers:
        try:
            reader(app.config)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            message = str(exc).strip("'\"")
            name = message.split(":", 1)[0].split("[", 1)[0]
            if name in huitou_config.Settings.model_fields:
                message = huitou_config.env_name(name) + message[len(name) :]
            else:  # the reader did not name it (a missing file, JSON that does not parse …)
                message = f"HUITOU_{fallback}: {message}"
            raise huitou_config.ConfigError(f"configuration error: {message}") from None


def _warm_up() -> None:
    """Load the address tables once at start-up, not inside the first customer's request.

    cpca reads its region tables on first use (seconds on a busy machine); paid inside a webhook
    request it can push the first reply past WeChat's 5-second limit. Cached per process.
    """
    from storage.contact import split_address

    split_address("广东省深圳市南山区科技园路1号")


def _register_cli(app: Any) -> None:
    """Add every ``huitou`` command to ``app.cli`` (an app, or anything with a click group there)."""
    from bot.referral_cli import register_cli as register_referral_cli
    from handlers.simulator.cli import demo_command
    from scheduler.cli import register_cli as register_scheduler_cli
    from storage.cli import register_cli as register_storage_cli

    register_storage_cli(app)
    register_scheduler_cli(app)
    app.cli.add_command(demo_command)
    register_referral_cli(app)
    from bot.wecom_cli import register_cli as register_wecom_cli  # huitou wecom contact-way

    register_wecom_cli(app)
    app.cli.add_command(serve_command)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    host = host.strip().lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--with-scheduler", is_flag=True, help="Also run the scheduler (sweeps + outbox drain) in this process."
)
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, with_scheduler: bool = False) -> None:
    """Serve the webhook (and, in development mode, the simulator). Use gunicorn in production.

    On a loopback --host this is development mode unless HUITOU_ENV=production; on any other
    interface it is production mode (WECHAT_TOKEN and HUITOU_SECRET_KEY required).
    """
    from flask import current_app

    info = ctx.ensure_object(ScriptInfo)
    info.data["huitou_serve_host"] = host  # read by the app factory (_cli_create_app)
    app = current_app._get_current_object() if current_app else info.load_app()
    if not is_loopback(host) and host not in app.config["SIMULATOR_HOSTS"] and host not in ("0.0.0.0", "::"):
        app.config["SIMULATOR_HOSTS"] = [*app.config["SIMULATOR_HOSTS"], host]
    if with_scheduler:
        from scheduler.runner import start_background

        start_background(app)
    mode = "production" if huitou_config.production_mode(app.config) else "development"
    click.echo(f"Huitou is listening on http://{host}:{port}/  (webhook: /wechat, {mode} mode)")
    if app.extensions.get("huitou_simulator"):
        click.echo(f"Simulator (no WeChat needed): http://{host}:{port}/simulator")
    # Not app.run(): Flask ignores it inside a `flask`/FlaskGroup command (FLASK_RUN_FROM_CLI).
    from werkzeug.serving import run_simple

    with app.app_context():
        run_simple(host, port, app, threaded=True, use_reloader=False)


def _cli_create_app() -> Flask:
    """The ``huitou`` command's app factory: development mode only for ``serve`` on loopback.

    Called when a command actually runs (never for ``--help``). A configuration error ends the
    command with its one line (click's "Error: …", exit status 1), not a traceback.
    """
    context = click.get_current_context(silent=True)
    info = context.find_object(ScriptInfo) if context else None
    host = info.data.get("huitou_serve_host") if info else None
    overrides = {}
    if host is not None and is_loopback(host) and not os.environ.get("HUITOU_ENV", "").strip():
        overrides["ENV"] = huitou_config.DEVELOPMENT
    try:
        return create_app(overrides)
    except huitou_config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class HuitouGroup(FlaskGroup):
    """``huitou``: its commands are known without building the app, so ``--help`` has no side effects.

    FlaskGroup builds the app (opening and migrating the database) just to list its commands; here
    they are registered on the group itself and the app is built only when a command runs.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # Flask's --app and --env-file make no sense for the installed command.
        self.params = [p for p in self.params if p.name not in ("app", "env_file")]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name)


def main() -> None:
    """Entry point of the ``huitou`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cli = HuitouGroup(
        create_app=_cli_create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        help="Huitou (回头): WeChat bot for micro-sellers.",
    )
    _register_cli(SimpleNamespace(cli=cli))
    cli.main(prog_name="huitou")


if __name__ == "__main__":
    main()
