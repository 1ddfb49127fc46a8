"""Flask blueprints: the WeChat webhook, downloads and the simulator."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from handlers.wechat import bp as wechat_bp

    app.register_blueprint(wechat_bp)
