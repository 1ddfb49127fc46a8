"""Flask blueprints: the WeChat webhook, the consent page, downloads and the simulator."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from handlers.wechat import bp as wechat_bp

    app.register_blueprint(wechat_bp)
    from handlers.subscribe import bp as subscribe_bp  # the subscription-notice consent page

    app.register_blueprint(subscribe_bp)
