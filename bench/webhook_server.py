"""The WSGI app the webhook benchmark serves under gunicorn: Huitou plus the bare baseline route.

``/wechat`` is the real webhook; ``/baseline`` (bench/baseline_route.py) does only decrypt, parse
and encrypted reply. Both share one server, one process model and one run, so their ratio shows
what Huitou's own work costs. Configured from the environment like the app itself.
"""

from __future__ import annotations

from app import create_app
from bench.baseline_route import baseline_bp

app = create_app()
app.register_blueprint(baseline_bp)
