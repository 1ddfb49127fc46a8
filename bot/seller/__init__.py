"""Seller console commands, one module per area, registered in ``registry.COMMANDS``.

To add an area (e.g. the referral programme's 推荐/积分/代理), write ``bot/seller/<area>.py``::

    from bot import texts
    from bot.seller.registry import SellerContext, seller_command

    @seller_command("积分", aliases=("查积分",), group=texts.MY_GROUP, usage="积分 #客户",
                    summary="…", example="积分 #7")
    def points(ctx: SellerContext) -> str:
        ...  # raise ctx.fail("…") for bad input; return the answer

and add its name to ``AREAS`` below. ``帮助`` lists it, the dispatcher runs it in a savepoint,
and ``tests/test_seller_console.py`` checks its example is in the README's seller cheat sheet.
Helpers for ``#12`` orders, ``#7``/phone/name customers and paged lists are in ``common.py``.
"""

import importlib

# Areas in the order 帮助 lists them. A new area is one more line here.
AREAS = (
    "general",
    "catalogue",
    "product_facts",
    "orders",
    "customers",
    "inquiries",
    "figures",
    "export",
    "drafts",
    "waiting",
    "referrals",
)

for _area in AREAS:
    importlib.import_module(f"bot.seller.{_area}")
