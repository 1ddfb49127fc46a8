"""End to end in a real headless browser: the simulator page served by a real WSGI server.

Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) driven by Playwright. Screenshots
go to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from storage.models import InboundMessage, Order

CHROMIUM = os.environ.get("HUITOU_TEST_CHROMIUM", "/usr/bin/chromium")
ORDER_TEXT = "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号"
MASKED_ORDER_TEXT = "要两盒面膜 张三 138****8000 广东省深圳市南山区****"
WAIT_MS = 60_000  # an upper bound: a month's jump is 31 ticks, slow on a busy CI machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM} (.ci/run installs it)"
    ),
]


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The app served over HTTP on a free loopback port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=WAIT_MS)  # a month's jump runs the scheduler 31 times
    return playwright_expect(locator)


def open_simulator(browser, live_url, **context):
    page = browser.new_page(**context)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{live_url}/simulator/")
    return page


def new_customer(page, nickname: str) -> None:
    page.fill("#new-customer input[name=nickname]", nickname)
    page.click("#new-customer button")
    expect(page.locator(".phone-header")).to_contain_text(nickname)
    expect(page.locator("#chat")).to_contain_text("欢迎关注")


def type_message(page, text: str, shown: str | None = None) -> None:
    """Type ``text``; the chat shows it as ``shown`` (phones and addresses masked)."""
    page.fill("#message", text)
    page.click("#composer button")
    expect(page.locator("#chat .msg.me").last).to_contain_text(shown or text)


def open_chat(page, label: str) -> None:
    page.locator(".contact", has_text=label).first.click()
    expect(page.locator(".phone-header")).to_contain_text(label)


def test_customer_orders_in_the_browser(browser, live_url, db, artifacts_dir):
    page = open_simulator(browser, live_url, viewport={"width": 1280, "height": 800})
    page.click("#load-demo")
    expect(page.locator("#status")).to_contain_text("演示店铺已就绪")
    expect(
        page.locator(".contact", has_text="王芳")
    ).to_be_visible()  # the page reloads with the demo customers

    new_customer(page, "小美")
    type_message(page, ORDER_TEXT, MASKED_ORDER_TEXT)
    expect(page.locator("#chat .msg.bot").last).to_contain_text("已为您登记订单")
    expect(page.locator("#outbox")).to_contain_text("店主通知")  # the seller is told, via the outbox
    page.screenshot(path=str(artifacts_dir / "simulator-desktop.png"), full_page=True)

    with db.read_session() as s:
        typed = s.scalar(select(InboundMessage).where(InboundMessage.content == ORDER_TEXT))
        order = s.scalar(select(Order).where(Order.customer_id == typed.customer_id))
    assert (
        typed.msg_key.startswith("msg:") and "<Encrypt>" in typed.response_body
    )  # the real webhook, safe mode
    assert order.amount_cents == 19800

    phone = open_simulator(browser, live_url, viewport={"width": 390, "height": 844}, is_mobile=True)
    open_chat(phone, "小美")
    expect(phone.locator("#chat")).to_contain_text("已为您登记订单")
    phone.screenshot(path=str(artifacts_dir / "simulator-phone.png"))
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"


def test_order_ship_jump_and_see_the_notices(browser, live_url, db, artifacts_dir):
    """Order as a customer, ship as the seller, jump the clock, see the shipping notice and the nudge."""
    page = open_simulator(browser, live_url, viewport={"width": 1280, "height": 800})
    page.click("#load-demo")
    expect(page.locator(".contact", has_text="王芳")).to_be_visible()

    new_customer(page, "小美")
    type_message(page, ORDER_TEXT, MASKED_ORDER_TEXT)
    confirmation = page.locator("#chat .msg.bot").last
    expect(confirmation).to_contain_text("已为您登记订单")
    order_id = re.search(r"#(\d+)", confirmation.inner_text()).group(1)

    open_chat(page, "店主")
    type_message(page, f"发货 #{order_id} 顺丰 SF1234567890")
    # The answer, then the seller notices that waited (bot/seller/waiting.py) may follow it.
    expect(page.locator("#chat .msg.bot", has_text="SF1234567890").first).to_be_visible()
    with db.read_session() as s:
        assert s.scalar(select(Order.status).where(Order.id == int(order_id))) == "shipped"

    open_chat(page, "小美")
    chat = page.locator("#chat")
    # The shipping notice: transactional, delivered by the tick that follows the seller's message.
    notice = chat.locator(".msg.bot", has=page.locator(".tag", has_text="发货通知"))
    expect(notice).to_contain_text("SF1234567890")
    expect(notice).to_contain_text("已发货")
    page.click("[data-days='30']")
    expect(page.locator("#status")).to_contain_text("调度器运行了")

    # --- The repurchase nudge (retention sweeps) -------------------------------------------------
    # 面膜 lasts 30 days per box: two boxes = 60 days; jump on to the end of the supply.
    page.click("[data-days='30']")
    expect(page.locator("#status")).to_contain_text("调度器运行了")
    expect(chat.locator(".tag", has_text="回购提醒")).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "simulator-nudge.png"), full_page=True)
