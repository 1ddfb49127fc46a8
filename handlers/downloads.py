"""Signed export downloads: GET /downloads/export/<token> streams the pool as an .xlsx attachment.

The token (storage.export_links) names the seller it was made for and expires; a forged, expired
or revoked link gets a 403 page in Chinese. The workbook is built in an anonymous temporary file
(unlinked at once, so nothing is left readable on disk) and streamed from there.
"""

from __future__ import annotations

import logging
import tempfile
from html import escape

from flask import Blueprint, Response, current_app, send_file

from bot import texts
from storage.db import get_db
from storage.excel_export import export_workbook
from storage.excel_sheets import LocalTime
from storage.export_links import ExportLinkError, verify_export_token
from storage.models import utcnow

log = logging.getLogger(__name__)

bp = Blueprint("downloads", __name__, url_prefix="/downloads")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _refusal(message: str) -> Response:
    page = texts.EXPORT_LINK_PAGE.format(title=escape(texts.EXPORT_LINK_REFUSED_TITLE), message=escape(message))
    return Response(page, status=403, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/export/<token>")
def export_download(token: str) -> Response:
    config = current_app.config
    now = utcnow()
    try:
        verify_export_token(config, token, now=now)
    except ExportLinkError as exc:
        log.info("export link refused: %s", exc)
        return _refusal(str(exc))
    buffer = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - send_file closes it after streaming
    try:
        with get_db().read_session() as session:
            # Stages as of the app's clock (the simulator's when it runs), like the seller's 客户 and 统计.
            clock = current_app.extensions.get("huitou_clock")
            as_of = clock(session) if clock is not None else now
            export_workbook(session, buffer, timezone=config["TIMEZONE"], now=as_of,
                            seller_openids=config.get("SELLER_OPENIDS") or ())
    except Exception:
        buffer.close()
        raise
    buffer.seek(0)
    day = LocalTime(config["TIMEZONE"])(now).date().isoformat()
    response = send_file(buffer, mimetype=XLSX_MIMETYPE, as_attachment=True,
                         download_name=texts.EXPORT_FILENAME.format(date=day), max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
