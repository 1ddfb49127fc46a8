"""Flask blueprints: the WeChat webhook, the consent page, downloads and the simulator."""

from __future__ import annotations

from flask import Flask

from handlers.wechat import bp as wechat_bp


def register_blueprints(app: Flask) -> None:

    app.register_blueprint(wechat_bp)
    from handlers.wecom import bp as wecom_bp  # WeCom callback (answers 404 until WECOM_* is configured)

    app.register_blueprint(wecom_bp)

    from handlers.subscribe import bp as subscribe_bp  # the subscription-notice consent page

    app.register_blueprint(subscribe_bp)
