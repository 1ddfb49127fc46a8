"""Export downloads: the seller's link ``/downloads/export#<token>`` opens a page whose button posts
the token to ``POST /downloads/export``, which uses it up and streams the pool as an .xlsx attachment.

The token (storage.export_links) is signed, names the seller, lives minutes and works once. It
travels in the URL fragment and then in the POST body, never in a request line, so access logs
never hold it; opening the page (or a link preview fetching it) does not use it up. A forged,
expired, used or revoked link gets a 403 page in Chinese. The workbook is built in an anonymous
temporary file (unlinked at once, so nothing is left readable on disk) and streamed from there.
"""

from __future__ import annotations

import logging
import tempfile
from html import escape

from flask import Blueprint, Response, current_app, request, send_file

from bot import texts
from storage.db import get_db
from storage.excel_export import export_workbook
from storage.excel_sheets import LocalTime
from storage.export_links import ExportLinkError, redeem_export_token
from storage.models import utcnow

log = logging.getLogger(__name__)

bp = Blueprint("downloads", __name__, url_prefix="/downloads")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _refusal(message: str) -> Response:
    page = texts.EXPORT_LINK_PAGE.format(
        title=escape(texts.EXPORT_LINK_REFUSED_TITLE), message=escape(message)
    )
    return Response(page, status=403, mimetype="text/html", headers=PAGE_HEADERS)


@bp.get("/export")
def export_page() -> Response:
    """The page the seller's link opens: one button; the token stays in the fragment until pressed."""
    page = texts.EXPORT_DOWNLOAD_PAGE.format(title=escape(texts.EXPORT_DOWNLOAD_TITLE))
    return Response(page, mimetype="text/html", headers=PAGE_HEADERS)


@bp.post("/export")
def export_download() -> Response:
    config = current_app.config
    now = utcnow()
    token = request.form.get("token", "").strip()
    try:
        with get_db().session() as session:
            redeem_export_token(session, config, token, now=now)
    except ExportLinkError as exc:
        log.info("export link refused: %s", exc)
        return _refusal(str(exc))
    buffer = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - send_file closes it after streaming
    try:
        with get_db().read_session() as session:
            # Stages as of the app's clock (the simulator's when it runs), like the seller's 客户 and 统计.
            clock = current_app.extensions.get("huitou_clock")
            as_of = clock(session) if clock is not None else now
            export_workbook(
                session,
                buffer,
                timezone=config["TIMEZONE"],
                now=as_of,
                seller_openids=config.get("SELLER_OPENIDS") or (),
            )
    except Exception:
        buffer.close()
        raise
    buffer.seek(0)
    day = LocalTime(config["TIMEZONE"])(now).date().isoformat()
    response = send_file(
        buffer,
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=texts.EXPORT_FILENAME.format(date=day),
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
