"""GET /downloads/export/<token>: a signed, expiring, per-seller link to the exported workbook."""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from urllib.parse import quote

import openpyxl
import pytest
import time_machine

from storage.export_links import make_export_token
from tests.conftest import SELLER_OPENID
from tests.excel_pool import NOW, seed_pool


@pytest.fixture
def pool(db):
    with db.session() as session:
        return seed_pool(session)


def at(moment: dt.datetime):
    return time_machine.travel(moment.replace(tzinfo=dt.UTC), tick=False)


def test_valid_link_streams_the_workbook_as_an_attachment(app, client, pool, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
        response = client.get(f"/downloads/export/{token}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('回头客户池-2026-05-01.xlsx')}" in disposition
    assert response.headers["Cache-Control"] == "no-store"
    wb = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert wb["客户"]["D2"].value == "张三"
    assert wb["客户"]["E2"].data_type == "s"
    response.close()
    assert list(scratch.iterdir()) == []  # nothing of the export is left on disk


def test_expired_link_is_refused_in_chinese(app, client, pool):
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
    with at(NOW + dt.timedelta(hours=24, seconds=5)):
        response = client.get(f"/downloads/export/{token}")
    assert response.status_code == 403
    assert "下载链接已过期" in response.get_data(as_text=True)
    assert "Content-Disposition" not in response.headers


def test_link_still_valid_just_before_expiry(app, client, pool):
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
    with at(NOW + dt.timedelta(hours=23, minutes=59)):
        assert client.get(f"/downloads/export/{token}").status_code == 200


def test_link_of_another_seller_is_refused(app, client, pool):
    token = make_export_token(app.config, "o_someone_else")
    response = client.get(f"/downloads/export/{token}")
    assert response.status_code == 403
    assert "不属于当前店主" in response.get_data(as_text=True)


def test_forged_link_is_refused(app, client, pool):
    token = make_export_token({"SECRET_KEY": "another-secret"}, SELLER_OPENID)
    for bad in (token, "garbage", token[:-3] + "abc"):
        response = client.get(f"/downloads/export/{bad}")
        assert response.status_code == 403
        body = response.get_data(as_text=True)
        assert "无法下载" in body and "导出" in body


def test_seller_asks_for_the_export_in_chat_and_downloads_it(platform, client, pool):
    reply = platform.say(SELLER_OPENID, "导出")
    match = re.search(r"https?://\S+?(/downloads/export/[\w.\-]+)", reply)
    assert match, reply
    response = client.get(match.group(1))
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    names = [row[3] for row in wb["客户"].iter_rows(min_row=2, values_only=True)]
    assert {"张三", "李四"} <= set(names)
    assert platform.say("o_customer_x", "导出") != reply  # a customer gets no link
