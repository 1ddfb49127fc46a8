"""The consent page ``/subscribe/<signed token>``: a ``wx-open-subscribe`` button for the
subscription-notice templates (``HUITOU_DELIVERY_SUBSCRIBE_TEMPLATES``), opened inside WeChat.

The page carries the JS-SDK configuration inline (``wx.config`` with appId, timestamp, nonceStr and
the signature over this page's URL, from the shared jsapi ticket: ``bot/delivery/jsapi_ticket.py``).
The page records nothing itself: the customer's tap reaches us as the platform's
``subscribe_msg_popup_event`` on ``/wechat`` (``bot/subscribe_events.py``). The signature is over
``PUBLIC_URL`` + the path, which must be the address the customer's WeChat opened (and a JS
interface safe domain of the account).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, render_template, request

from bot import subscribe_links, texts
from bot.delivery import jsapi_ticket, subscribe_message
from bot.delivery.errors import DeliveryError
from storage import consents
from storage.db import get_db
from storage.models import Customer

log = logging.getLogger(__name__)

bp = Blueprint("subscribe", __name__, template_folder="templates")


def _signed_url() -> str:
    """The URL the page was opened at, as WeChat sees it (``PUBLIC_URL`` + path + query)."""
    base = str(current_app.config.get("PUBLIC_URL") or request.host_url).rstrip("/")
    query = request.query_string.decode("utf-8", "replace")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@bp.get("/subscribe/<token>")
def consent_page(token: str) -> Response:
    cfg = current_app.config
    customer_id = subscribe_links.read_token(str(cfg["SECRET_KEY"]), token)
    template_ids = subscribe_message.template_ids(cfg)
    database = get_db()
    customer_name, holding = None, 0
    if customer_id is not None:
        with database.read_session() as session:
            customer = session.get(Customer, customer_id)
            if customer is not None:
                customer_name = customer.display_name
                holding = sum(consents.open_count(session, customer.id, t) for t in template_ids)
    if customer_name is None:
        return _page(status=404, message=texts.SUBSCRIBE_PAGE_NOT_FOUND)
    if not template_ids:
        return _page(status=404, message=texts.SUBSCRIBE_PAGE_UNAVAILABLE)
    try:
        js = jsapi_ticket.page_config(cfg, database, _signed_url())  # outside any write transaction
    except DeliveryError as exc:
        log.warning("no JS-SDK ticket for the consent page: %s", exc)
        return _page(status=503, message=texts.SUBSCRIBE_PAGE_UNAVAILABLE)
    return _page(name=customer_name, template_ids=template_ids, js=js, holding=holding)


def _page(
    *,
    status: int = 200,
    message: str | None = None,
    name: str | None = None,
    template_ids: list[str] | None = None,
    js: jsapi_ticket.JsSdkConfig | None = None,
    holding: int = 0,
) -> Response:
    wx_config = None
    if js is not None:
        wx_config = {
            "debug": False,
            "appId": js.app_id,
            "timestamp": js.timestamp,
            "nonceStr": js.nonce_str,
            "signature": js.signature,
            "jsApiList": ["checkJsApi"],
            "openTagList": ["wx-open-subscribe"],
        }
    html = render_template(
        "subscribe.html",
        texts=texts,
        message=message,
        name=name,
        template_attr=",".join(template_ids or []),
        wx_config=wx_config,
        holding=holding,
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # the signature is per visit
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of other sites' logs
    return response
