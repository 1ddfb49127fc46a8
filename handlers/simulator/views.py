"""The local simulator at ``/simulator``: chat as a customer or as the seller without WeChat.

Enabled only in development mode (``huitou serve`` on loopback, or ``HUITOU_ENV=development``), and
never with real app credentials (``WECHAT_APP_ID`` and ``WECHAT_APP_SECRET`` both set): in production
mode the blueprint is not even registered (404). ``HUITOU_SIMULATOR=false`` switches it off in
development mode too. Every route checks ``Host`` and ``Origin`` against the serving address
(loopback names, ``HUITOU_SIMULATOR_HOSTS``, ``serve --host``): a DNS-rebinding page gets 403.

Every message typed here goes through the real webhook (signed, encrypted in safe mode) via
``handlers.simulator_platform``; the page only reads back what the bot stored. The JSON endpoints
accept ``application/json`` only, which a cross-site form cannot send without a CORS preflight.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select

import config as huitou_config
from bot import texts
from bot.delivery import subscribe_message
from handlers.simulator import clock, consent
from handlers.simulator import wecom as sim_wecom
from handlers.simulator.chat import chat_entries, contacts, outbox_rows
from handlers.simulator.demo import load_demo_shop
from handlers.simulator.platform import app_platform, epoch, new_msg_id, post_to_webhook, read_reply_text
from handlers.simulator.privacy import Masker, request_is_local, with_links
from storage.db import get_db
from storage.models import Customer, OutboxMessage

log = logging.getLogger(__name__)

bp = Blueprint(
    "simulator",
    __name__,
    url_prefix="/simulator",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

SIM_SELLER_OPENID = "sim_seller"
MAX_TEXT_LENGTH = 600  # the platform allows about 2,000 bytes; a phone message is far shorter
MAX_NICKNAME_LENGTH = 30


# --- enabling ----------------------------------------------------------------------------------


def production_mode(cfg: Mapping[str, Any]) -> bool:
    """Production unless ``ENV`` is development; real WeChat app credentials are production anyway."""
    return huitou_config.production_mode(cfg)


def simulator_enabled(cfg: Mapping[str, Any]) -> bool:
    """On unless in production mode or switched off with ``HUITOU_SIMULATOR=false``."""
    if production_mode(cfg):
        return False
    setting = cfg.get("SIMULATOR")
    return True if setting is None or str(setting).strip() == "" else huitou_config.parse_bool(setting)


def init_simulator(app: Flask) -> bool:
    """Register the simulator on ``app`` when enabled; returns whether it was."""
    if not simulator_enabled(app.config):
        return False
    if not app.config["SELLER_OPENIDS"]:
        # Somebody has to be the seller: a simulated account gets the seller console.
        app.config["SELLER_OPENIDS"] = [SIM_SELLER_OPENID]
    clock.install_clock(app, get_db(app))
    consent.default_templates(app.config)  # a demo subscription template when none is configured
    app.add_template_filter(lambda text: consent.with_consent_buttons(with_links(text)), "sim_links")
    app.register_blueprint(bp)
    if "/" not in {rule.rule for rule in app.url_map.iter_rules()}:
        app.add_url_rule("/", "simulator_home", lambda: redirect(url_for("simulator.index")))
    app.extensions["huitou_simulator"] = True
    return True


# --- who may drive it --------------------------------------------------------------------------


@bp.before_request
def _serving_address_only():
    """Every route: ``Host`` and ``Origin`` must name the serving address (DNS rebinding → 403)."""
    if not request_is_local(request.host, request.headers.get("Origin"), current_app.config):
        log.warning("simulator refused a request for another host or origin")
        return _error(texts.SIM_HOST_REFUSED, 403)
    return None


# --- helpers -----------------------------------------------------------------------------------


def _error(message: str, status: int = 400):
    return jsonify(ok=False, error=message), status


def _json_body() -> dict[str, Any] | None:
    if not request.is_json:
        return None
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _now() -> dt.datetime:
    return clock.simulated_now(get_db())


def _timezone() -> str:
    return current_app.config["TIMEZONE"]


def _local_text(moment: dt.datetime | None, short: bool = False) -> str:
    """Naive UTC → the seller's local time for display (``short``: without the year)."""
    if moment is None:
        return ""
    return clock.to_local(moment, _timezone()).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")


def _clock_state() -> dict[str, Any]:
    offset = clock.read_offset(get_db())
    now = _now()
    return {
        "now": _local_text(now),
        "now_input": clock.to_local(now, _timezone()).strftime("%Y-%m-%dT%H:%M"),
        "offset_days": round(offset.total_seconds() / 86400, 1),
        "timezone": _timezone(),
    }


def _known_openid(openid: str) -> bool:
    if openid in current_app.config["SELLER_OPENIDS"]:
        return True
    with get_db().read_session() as session:
        return session.scalar(select(Customer.id).where(Customer.openid == openid)) is not None


def _read_reply(body: str | None) -> str | None:
    return read_reply_text(current_app._get_current_object(), body)


def run_scheduler_at(at: dt.datetime) -> tuple[Any, str | None]:
    """Run ``scheduler.tick.run_tick`` once as of ``at`` (naive UTC): (result, error message)."""
    try:
        from scheduler.tick import run_tick
    except ImportError:
        return None, texts.SIM_SCHEDULER_MISSING
    try:
        result = run_tick(current_app._get_current_object(), at=at.replace(tzinfo=dt.UTC), dry_run=False)
    except Exception as exc:  # shown to the user; the log keeps the traceback
        log.exception("simulator tick at %s failed", at.isoformat())
        return None, texts.SIM_SCHEDULER_FAILED.format(error=type(exc).__name__)
    errors = getattr(result, "errors", None)  # TickSummary: a failed sweep does not stop the others
    if errors:
        return result, texts.SIM_SCHEDULER_FAILED.format(error="、".join(sorted(errors)))
    return result, None


def _max_outbox_id() -> int:
    with get_db().read_session() as session:
        return int(session.scalar(select(func.max(OutboxMessage.id))) or 0)


def _outbox_since(last_id: int) -> dict[str, int]:
    with get_db().read_session() as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.id > last_id)
            .group_by(OutboxMessage.status)
        ).all()
    return {status: int(count) for status, count in rows}


# --- pages -------------------------------------------------------------------------------------


@bp.get("/")
def index():
    sellers = current_app.config["SELLER_OPENIDS"]
    with get_db().read_session() as session:
        mask = Masker.from_database(session)
        people = mask.rows(contacts(session, sellers), "label")
        openid = request.args.get("openid") or (people[0].openid if people else None)
        current = next((p for p in people if p.openid == openid), None)
        entries = mask.rows(chat_entries(session, openid, _read_reply), "text") if current else []
        outbox = mask.rows(outbox_rows(session), "text", "recipient")
    return render_template(
        "simulator.html",
        people=people,
        current=current,
        entries=entries,
        outbox=outbox,
        clock=_clock_state(),
        local=_local_text,
        texts=texts,
    )


@bp.get("/chat")
def chat_fragment():
    openid = request.args.get("openid", "")
    with get_db().read_session() as session:
        entries = Masker.from_database(session).rows(chat_entries(session, openid, _read_reply), "text")
    return render_template("_chat.html", entries=entries, local=_local_text)


@bp.get("/outbox")
def outbox_fragment():
    with get_db().read_session() as session:
        outbox = Masker.from_database(session).rows(outbox_rows(session), "text", "recipient")
    return render_template("_outbox.html", outbox=outbox, local=_local_text)


# --- actions (JSON) ----------------------------------------------------------------------------


@bp.post("/api/message")
def send_message():
    """Type ``text`` as ``openid``: through ``/wechat``, then (by default) one scheduler tick."""
    body = _json_body()
    if body is None:
        return _error(texts.SIM_NEED_JSON, 415)
    openid = str(body.get("openid") or "").strip()
    text = str(body.get("text") or "").strip()
    if not text:
        return _error(texts.SIM_EMPTY_TEXT)
    if len(text) > MAX_TEXT_LENGTH:
        return _error(texts.SIM_TEXT_TOO_LONG.format(limit=MAX_TEXT_LENGTH))
    if not openid or not _known_openid(openid):
        return _error(texts.SIM_UNKNOWN_CONTACT, 404)
    now = _now()
    reply = post_to_webhook(
        current_app._get_current_object(),
        app_platform(current_app._get_current_object()).text_xml(
            openid, text, msg_id=new_msg_id(), create_time=epoch(now)
        ),
    )
    if reply.status != 200:
        return _error(texts.SIM_WEBHOOK_FAILED.format(status=reply.status), 502)
    tick_error = None
    if huitou_config.parse_bool(current_app.config.get("SIMULATOR_AUTO_TICK")):
        # As of just after the message, so the tick sees what it changed (a shipped order ...).
        _result, tick_error = run_scheduler_at(_now())
    with get_db().read_session() as session:
        shown = Masker.from_database(session)(reply.text)
    return jsonify(ok=True, reply=shown, encrypted=reply.encrypted, tick_error=tick_error)


@bp.post("/api/customers")
def create_customer():
    """A new follower: a subscribe event through ``/wechat`` (the welcome comes back), then a nickname."""
    body = _json_body()
    if body is None:
        return _error(texts.SIM_NEED_JSON, 415)
    nickname = str(body.get("nickname") or "").strip()
    if len(nickname) > MAX_NICKNAME_LENGTH:
        return _error(texts.SIM_NICKNAME_TOO_LONG.format(limit=MAX_NICKNAME_LENGTH))
    openid = f"sim_{secrets.token_hex(6)}"
    reply = post_to_webhook(
        current_app._get_current_object(),
        app_platform(current_app._get_current_object()).event_xml(
            openid, "subscribe", create_time=epoch(_now())
        ),
    )
    if reply.status != 200:
        return _error(texts.SIM_WEBHOOK_FAILED.format(status=reply.status), 502)
    if nickname:
        # The platform never sends nicknames in messages; the simulator labels its customers itself.
        with get_db().session() as session:
            customer = session.scalar(select(Customer).where(Customer.openid == openid))
            customer.nickname = nickname
    return jsonify(ok=True, openid=openid, reply=reply.text)


@bp.post("/api/subscribe")
def accept_subscribe():
    """Tap the consent page's button as ``openid``: the platform's popup event (accept every
    configured template) through ``/wechat``; the page's JS-SDK cannot run in the simulator."""
    body = _json_body()
    if body is None:
        return _error(texts.SIM_NEED_JSON, 415)
    openid = str(body.get("openid") or "").strip()
    if not openid or not _known_openid(openid):
        return _error(texts.SIM_UNKNOWN_CONTACT, 404)
    template_ids = subscribe_message.template_ids(current_app.config)
    if not template_ids:
        return _error(texts.SUBSCRIBE_PAGE_UNAVAILABLE, 404)
    reply = post_to_webhook(
        current_app._get_current_object(),
        app_platform(current_app._get_current_object()).subscribe_msg_xml(
            openid,
            "subscribe_msg_popup_event",
            consent.popup_accept_entries(template_ids),
            create_time=epoch(_now()),
        ),
    )
    if reply.status != 200:
        return _error(texts.SIM_WEBHOOK_FAILED.format(status=reply.status), 502)
    return jsonify(ok=True, message=texts.SUBSCRIBE_PAGE_ACCEPTED, templates=len(template_ids))


@bp.post("/api/clock")
def jump_clock():
    """Move the simulated clock forward to ``at`` (seller's local time) and run the scheduler on the way."""
    body = _json_body()
    if body is None:
        return _error(texts.SIM_NEED_JSON, 415)
    try:
        target = clock.parse_local(str(body.get("at") or ""), _timezone())
    except ValueError:
        return _error(texts.SIM_BAD_TIME)
    database = get_db()
    start = _now()
    if target <= start:
        return _error(texts.SIM_TIME_NOT_LATER.format(now=_local_text(start)))
    if target - start > dt.timedelta(days=clock.MAX_JUMP_DAYS):
        return _error(texts.SIM_JUMP_TOO_FAR.format(days=clock.MAX_JUMP_DAYS))
    before = _max_outbox_id()
    clock.set_simulated_now(database, target)
    times = clock.tick_times(start, target, _timezone())
    error = None
    for moment in times:
        _result, error = run_scheduler_at(moment)
        if error:
            break
    return jsonify(
        ok=error is None,
        error=error,
        ticks=len(times),
        new_messages=_outbox_since(before),
        clock=_clock_state(),
    )


@bp.post("/api/tick")
def tick_now():
    """Run the scheduler once at the current simulated time."""
    if _json_body() is None:
        return _error(texts.SIM_NEED_JSON, 415)
    before = _max_outbox_id()
    _result, error = run_scheduler_at(_now())
    return jsonify(ok=error is None, error=error, new_messages=_outbox_since(before), clock=_clock_state())


@bp.post("/api/clock/reset")
def reset_clock():
    """Back to the real time (messages already sent stay where they are)."""
    if _json_body() is None:
        return _error(texts.SIM_NEED_JSON, 415)
    clock.reset_clock(get_db())
    return jsonify(ok=True, clock=_clock_state())


@bp.post("/api/demo")
def load_demo():
    if _json_body() is None:
        return _error(texts.SIM_NEED_JSON, 415)
    with get_db().session() as session:
        result = load_demo_shop(session, _now())
    return jsonify(
        ok=True,
        message=texts.SIM_DEMO_LOADED.format(
            products=result.products, customers=result.customers, orders=result.orders
        ),
    )


# --- WeCom mode (handlers/simulator/wecom.py) ----------------------------------------------------


@bp.post("/api/wecom/mode")
def wecom_mode():
    """Switch the WeCom mode on: the simulator's own WeCom, answered by the in-process sandbox."""
    if _json_body() is None:
        return _error(texts.SIM_NEED_JSON, 415)
    if not sim_wecom.enable(current_app._get_current_object()):
        return _error(texts.SIM_WECOM_REAL_SETTINGS, 409)
    return jsonify(ok=True, message=texts.SIM_WECOM_MODE_ON)


@bp.post("/api/wecom/add")
def wecom_add():
    """The customer ``openid`` adds the seller on WeCom by their personal QR: WeCom's callback to ``/wecom``."""
    body = _json_body()
    if body is None:
        return _error(texts.SIM_NEED_JSON, 415)
    app = current_app._get_current_object()
    if not sim_wecom.mode_on(app):
        return _error(texts.SIM_WECOM_MODE_OFF, 409)
    openid = str(body.get("openid") or "").strip()
    with get_db().read_session() as session:
        customer = session.scalar(select(Customer).where(Customer.openid == openid)) if openid else None
        xml = (
            sim_wecom.contact_added_xml(customer, str(app.config.get("SECRET_KEY") or ""), epoch(_now()))
            if customer is not None and openid not in app.config["SELLER_OPENIDS"]
            else None
        )
    if xml is None:
        return _error(texts.SIM_UNKNOWN_CONTACT, 404)
    status = sim_wecom.post_callback(app, xml)
    if status != 200:
        return _error(texts.SIM_WEBHOOK_FAILED.format(status=status), 502)
    return jsonify(ok=True, message=texts.SIM_WECOM_ADDED)


@bp.get("/api/wecom/tasks")
def wecom_tasks():
    """The seller's WeCom app: the mass-send tasks waiting for a tap."""
    if not sim_wecom.mode_on(current_app._get_current_object()):
        return jsonify(ok=True, mode=False, tasks=[])
    tasks = sim_wecom.tasks_to_confirm(get_db())
    with get_db().read_session() as session:
        mask = Masker.from_database(session)
        for task in tasks:
            task["text"] = mask(task["text"])
    return jsonify(ok=True, mode=True, tasks=tasks)


@bp.post("/api/wecom/confirm")
def wecom_confirm():
    """One tap in the WeCom app sends every waiting task; the next poll (a tick, now) reads the results."""
    if _json_body() is None:
        return _error(texts.SIM_NEED_JSON, 415)
    if not sim_wecom.mode_on(current_app._get_current_object()):
        return _error(texts.SIM_WECOM_MODE_OFF, 409)
    confirmed = sim_wecom.confirm_all(get_db(), _now())
    before = _max_outbox_id()
    _result, error = run_scheduler_at(_now())
    return jsonify(
        ok=error is None,
        error=error,
        confirmed=confirmed,
        message=texts.SIM_WECOM_CONFIRMED.format(count=confirmed),
        new_messages=_outbox_since(before),
    )
