"""The seller's export link: signed, short-lived, single-use, per seller, and never in an access log.

``导出`` answers ``<a href="…/downloads/export#<token>">``: the page at ``GET /downloads/export``
posts the token (from the fragment) to ``POST /downloads/export``, which uses it up and streams
the workbook.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import tempfile
from urllib.parse import quote

import openpyxl
import pytest
import time_machine

from storage.export_links import make_export_token
from tests.clock import wall_clock_utc
from tests.conftest import SELLER_OPENID
from tests.excel_pool import NOW, seed_pool


@pytest.fixture
def pool(db):
    with db.session() as session:
        return seed_pool(session)


def at(moment: dt.datetime):
    return time_machine.travel(moment.replace(tzinfo=dt.UTC), tick=False)


def download(client, token: str):
    return client.post("/downloads/export", data={"token": token})


def link_in(reply: str) -> str:
    match = re.search(r'<a href="([^"]+)">', reply)
    assert match, reply
    return html.unescape(match.group(1))


def test_valid_link_streams_the_workbook_as_an_attachment(app, client, pool, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
        response = download(client, token)
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


def test_a_link_works_once(app, client, pool):
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
        assert download(client, token).status_code == 200
    with at(NOW + dt.timedelta(seconds=30)):
        again = download(client, token)
    assert again.status_code == 403 and "已经用过" in again.get_data(as_text=True)
    assert "Content-Disposition" not in again.headers


def test_expired_link_is_refused_in_chinese(app, client, pool):
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
    with at(NOW + dt.timedelta(minutes=10, seconds=5)):
        response = download(client, token)
    assert response.status_code == 403
    assert "下载链接已过期" in response.get_data(as_text=True)
    assert "Content-Disposition" not in response.headers


def test_link_still_valid_just_before_expiry(app, client, pool):
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
    with at(NOW + dt.timedelta(minutes=9, seconds=59)):
        assert download(client, token).status_code == 200


def test_the_lifetime_is_configurable(app, client, pool):
    app.config["EXPORT_LINK_MAX_AGE_SECONDS"] = 60
    with at(NOW):
        token = make_export_token(app.config, SELLER_OPENID)
    with at(NOW + dt.timedelta(seconds=61)):
        assert download(client, token).status_code == 403


def test_link_of_another_seller_is_refused(app, client, pool):
    token = make_export_token(app.config, "o_someone_else")
    response = download(client, token)
    assert response.status_code == 403
    assert "不属于当前店主" in response.get_data(as_text=True)


def test_forged_link_is_refused(app, client, pool):
    token = make_export_token({"SECRET_KEY": "another-secret"}, SELLER_OPENID)
    for bad in (token, "garbage", token[:-3] + "abc", ""):
        response = download(client, bad)
        assert response.status_code == 403
        body = response.get_data(as_text=True)
        assert "无法下载" in body and "导出" in body


def test_seller_asks_for_the_export_in_chat_and_downloads_it(platform, client, pool):
    reply = platform.say(SELLER_OPENID, "导出")
    url = link_in(reply)
    # Built from the address the message came in on (the test client's), token in the fragment.
    assert url.startswith("http://localhost/downloads/export#") and "10分钟内有效" in reply
    path, token = url.removeprefix("http://localhost").split("#", 1)
    page = client.get(path)  # opening the link (or a preview fetching it) uses nothing up
    assert page.status_code == 200 and "下载表格" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer" and token not in page.get_data(as_text=True)
    response = download(client, token)
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    names = [row[3] for row in wb["客户"].iter_rows(min_row=2, values_only=True)]
    assert {"张三", "李四"} <= set(names)
    assert download(client, token).status_code == 403  # used
    assert platform.say("o_customer_x", "导出") != reply  # a customer gets no link


def test_a_configured_public_url_wins_over_the_request_address(app, platform):
    app.config["PUBLIC_URL"] = "https://shop.example.com/"
    assert link_in(platform.say(SELLER_OPENID, "导出")).startswith(
        "https://shop.example.com/downloads/export#"
    )


@pytest.mark.slow
def test_a_link_made_by_one_process_works_once_in_another_and_stays_out_of_the_access_log(
    app, client, database_url, pool, tmp_path
):
    """gunicorn workers make the link (from the port they serve on); this test's own process, with
    the same HUITOU_SECRET_KEY, redeems it; then it is used up for every process."""
    from tests.live_server import GunicornServer
    from tests.wechat_platform import WeChatPlatform

    access_log = tmp_path / "access.log"
    server = GunicornServer(database_url, workers=2, env={"HUITOU_SELLER_OPENIDS": SELLER_OPENID})
    server.command[-1:-1] = ["--access-logfile", str(access_log)]
    with server:
        reply = WeChatPlatform(server.client(), mode="safe").say(SELLER_OPENID, "导出")
        url = link_in(reply)
        assert url.startswith(f"{server.base_url}/downloads/export#")  # the serving port, not 5000
        token = url.split("#", 1)[1]
        import requests

        assert requests.get(url, timeout=30).status_code == 200  # the page, as the phone opens it
        # another process, the same key (on the clock the server signed with: the machine's real one)
        with time_machine.travel(wall_clock_utc().replace(tzinfo=dt.UTC), tick=True):
            assert download(client, token).status_code == 200
        again = requests.post(f"{server.base_url}/downloads/export", data={"token": token}, timeout=30)
        assert again.status_code == 403 and "已经用过" in again.text
    logged = access_log.read_text()
    assert "/downloads/export" in logged and token not in logged and token[:20] not in logged
