"""The simulator: the product end to end without WeChat (development mode only).

``views`` (the blueprint at ``/simulator``), ``platform`` (plays the WeChat platform: builds,
signs, encrypts and posts messages to ``/wechat``; the test suite uses the same stand-in),
``clock`` (the simulated clock), ``chat`` (what the phone shows), ``privacy`` (Host/Origin checks,
masking), ``demo`` (the demo shop) and ``cli`` (``huitou demo``).
"""
