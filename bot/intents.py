"""Intent detection for customers' free Chinese chat: normalisation plus a table of rules.

Nothing here touches Flask or the database: ``detect_intent(text, catalogue)`` is a pure function.
The rules are data (``RULES``, ``ORDER_FEATURES``, ``PRIORITY``): to teach the bot a new phrase,
add a row, not an ``if``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.normalize import TYPO_FIXES, normalize  # noqa: F401  (re-exported)
from bot.order_parser import parse_order
from storage.contact import to_halfwidth


class Intent:
    ORDER = "order"
    INQUIRY = "inquiry"
    THANKS_PRAISE = "thanks_praise"
    PRODUCT_GOOD = "product_good"
    COMPLAINT = "complaint"
    REFERRAL_CODE = "referral_code"
    MY_ORDERS = "my_orders"
    MY_REWARDS = "my_rewards"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    GREETING = "greeting"
    OTHER = "other"


# When several intents match, the first in this order wins (after-sales trouble beats praise …).
PRIORITY: tuple[str, ...] = (
    Intent.OPT_OUT,
    Intent.OPT_IN,
    Intent.COMPLAINT,
    Intent.REFERRAL_CODE,
    Intent.MY_ORDERS,
    Intent.MY_REWARDS,
    Intent.ORDER,
    Intent.INQUIRY,
    Intent.PRODUCT_GOOD,
    Intent.THANKS_PRAISE,
    Intent.GREETING,
)

# --- The rule table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """``pattern`` (regex on normalised text) means ``intent``, unless ``unless`` also matches."""

    intent: str
    pattern: re.Pattern[str]
    topic: str | None = None
    unless: re.Pattern[str] | None = None

    def matches(self, text: str) -> bool:
        return bool(self.pattern.search(text)) and not (self.unless and self.unless.search(text))


def rule(intent: str, pattern: str, topic: str | None = None, unless: str | None = None) -> Rule:
    return Rule(intent, re.compile(pattern, re.I), topic, re.compile(unless, re.I) if unless else None)


_Q = r"(?:吗|么|嘛|呢|[?？]|没有|不)"  # question endings
_NUM = r"(?:\d|[一两二三四五六七八九十])"

RULES: tuple[Rule, ...] = (
    # Opt-out / opt-in: short, whole-message commands (so "退订单" is not an opt-out).
    rule(
        Intent.OPT_OUT,
        r"^\W*(?:退订|td|t|取消订阅|取消关注提醒|不要再?发了?|别再?发了?|不要推送|关闭推送|拒收|别打扰我?|不要打扰我?)\W*$",
    ),
    rule(
        Intent.OPT_OUT,
        r"(?:^|\W)(?:退订|取消订阅)(?:\W|$)|不想再?收到|(?:别|不要)再?给我(?:发|推)(?:广告|消息|推送|活动|优惠)|(?:别|不要)再给我发"
        r"|(?:别|不要)再?(?:发|推)(?:广告|推送|活动|消息)",
    ),
    rule(
        Intent.OPT_IN,
        r"^\W*(?:订阅|恢复订阅|重新订阅|恢复推送|开启推送|继续推送|取消退订|可以发了?|继续发吧?)\W*$",
    ),
    # After-sales trouble.
    rule(
        Intent.COMPLAINT,
        r"退货|退款|换货|过敏了?|红肿|起疹|红疹|疹子|发痒|好痒|长痘了|烂脸|刺痛|破损|摔坏|漏液|漏了|压坏|坏了|少发|漏发|发错|少了一|缺了一|只收到|差评|投诉|假货|假的|过期|质量问题|太差|骗子|不满意|没效果|没用啊|一点用都没有",
        unless=r"会不会过敏|会过敏吗|过敏吗|不过敏|防过敏|不退货|不会坏|怕过敏|可以退货吗|能退货吗|能退吗|支持退货|包退",
    ),
    # Referral codes: "推荐码 AB12" (the code itself is pulled out by ``referral_code``).
    rule(Intent.REFERRAL_CODE, r"(?:推荐码|邀请码|推广码|优惠码)(?:是)?\s*[:：]?\s*[A-Za-z0-9]{3,16}"),
    rule(Intent.REFERRAL_CODE, r"^\s*(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{4,16}\s*$"),
    # My orders / where is my parcel.
    rule(
        Intent.MY_ORDERS,
        r"我的(?:订单|快递|包裹)|查(?:一下|下)?(?:订单|快递|物流|单号)|订单(?:状态|查询|到哪)|快递(?:到哪|单号|号|呢)|物流(?:信息|到哪|呢|怎么)"
        r"|单号|到哪了|发货了?(?:吗|没|没有)|(?:发|寄)(?:出)?了(?:吗|没)|(?:什么时候|啥时候|几时|多久)(?:能)?(?:发货|到|能到|收到|寄出)|还没(?:收到|到|发货)|寄出了?吗|发了吗|我买的.*(?:到|发)",
    ),
    # The customer's own referral code, points and rewards ("我的积分", "推荐码").
    rule(
        Intent.MY_REWARDS,
        r"我的(?:积分|推荐码|邀请码|推广码|奖励|优惠券|二维码|推荐二维码)|(?:查|看)(?:一下|下)?(?:我的)?(?:积分|奖励|优惠券|推荐码)"
        r"|^\W*(?:积分|推荐码|邀请码|推荐二维码|推荐奖励)\W*$|积分(?:多少|有多少|余额|还有多少|怎么用)|(?:推荐码|邀请码)是(?:多少|什么|啥)"
        r"|怎么推荐|推荐(?:好友|朋友)?有(?:什么|啥)?奖励",
    ),
    # Inquiries by topic.
    rule(
        Intent.INQUIRY,
        r"多少钱|价格|价钱|怎么卖|几块|什么价|多少一|贵不贵|贵吗|优惠吗|有优惠|打折|包邮",
        topic="price",
    ),
    rule(Intent.INQUIRY, r"有货|没货|现货|库存|还有吗|缺货|断货|有没有(?!效)|还卖吗|补货", topic="stock"),
    rule(
        Intent.INQUIRY,
        r"怎么用|怎样用|如何用|用法|使用方法|能用多久|用多久|可以用多久|用几天|一天几次|一天(?:涂|用|敷|擦)几次|几天(?:用|敷|涂)一次|保质期|多久用完|怎么使用|用量|先用.*还是",
        topic="usage",
    ),
    rule(
        Intent.INQUIRY,
        rf"效果(?:怎么样|如何|好吗|好不好)|好用{_Q}|好不好用|有用{_Q}|管用{_Q}|有效{_Q}|适合|敏感肌|孕妇|会不会过敏|过敏吗|能美白|功效|成分|副作用|正品|真的假的|是真的吗|可以用吗|能用吗",
        topic="effect",
    ),
    rule(
        Intent.INQUIRY,
        r"怎么(?:买|下单|购买|付款|付钱)|如何(?:下单|购买)|能(?:发|寄)到.*吗|可以(?:发|寄)到|货到付款|怎么付|支付宝|能开发票|请问|咨询|想了解|介绍一下|问一下|问下",
        topic="other",
    ),
    # The customer says the product is good (a referral moment).
    rule(
        Intent.PRODUCT_GOOD,
        r"好用|效果(?:很|真|特别|超|非常)?(?:好|棒|不错|明显)|回购|好评|五星|推荐给|皮肤(?:变|好|嫩|白|亮|滑)|嫩了好多|真不错|很不错|爱了|用完了?还(?:要|买)|已经推荐|超棒|太棒"
        r"|还不错|挺不错|蛮不错|不错哦|东西(?:真|很|挺|超|特别)?(?:好|棒|不错|赞)|(?:下次|以后)(?:还|再|也)(?:买|来|找你)|还会再?(?:买|来)"
        r"|(?:都|也)(?:说|夸)(?:好|不错|好用)|好多了|改善(?:了|很多)|水润|很润|不干了|细腻了|亮了|白了|效果出来了|惊艳|宝藏|绝了",
        unless=rf"好用{_Q}|好不好用|不好用|没效果|效果(?:怎么样|如何|好吗|好不好)|不错{_Q}|(?:吗|么)\s*[?？]?$",
    ),
    # Thanks and praise for the service (the other referral moment).
    rule(
        Intent.THANKS_PRAISE,
        r"谢谢|感谢|多谢|谢啦|thx|thanks|thank you|辛苦|给力|服务(?:真|很|太)?好|贴心|速度(?:真|很)?快|发货(?:真|很|好)快|太好了|你真好|麻烦你了|收到[了啦]?[,，!！~ ]*(?:谢|好|很)|用心|包装(?:很|真|好)|赞"
        r"|人(?:真|太|很|超|特别|挺)好|态度(?:真|太|很|超|特别|挺)?好|(?:回复|回消息)(?:真|好|很|超)?(?:快|及时)|靠谱|耐心|热情|周到|专业|nice|么么哒|爱你|比心",
    ),
    # Greetings.
    rule(
        Intent.GREETING,
        r"^\W*(?:你好|您好|hi|hello|哈喽|嗨|在吗|在不在|在么|亲|亲在吗|老板|老板在吗|早上好|早安|中午好|下午好|晚上好|晚安|有人吗|hey)[\W啊呀呢哈]*$",
    ),
)

# Evidence that a message is an order; a message is an order at ORDER_THRESHOLD points.
# Features named here are computed by ``order_features`` from the parse and these patterns.
ORDER_VERB_STRONG = re.compile(
    rf"下单|购买|订购|我?买(?![了的过吗个啥什])|(?:要|来|拍|拿|订|再要|再来){_NUM}|帮我(?:寄|发|下|拍|订)|给我(?:寄|发|来)|寄(?:到|给)|发(?:到|给)|寄往|收货地址|收件人|包邮寄"
)
ORDER_VERB_WEAK = re.compile(r"(?<![需不主只重])要(?!不|多|用|是|怎|几|吗)|想要|再来|给我|订(?!阅)")
PAST_PURCHASE = re.compile(r"上次|之前|以前|买过|买了|买的|用了|用完|用过|收到的")
DEFERRED = re.compile(
    r"等.{0,8}再|下次|改天|考虑|再说|以后再|过[一两几些]?[几两]?天再|回头再|晚点再|晚些再|明天再|下个?月再|先不|暂时不|还会再?买|会再来买?|会回购"
)
# "还是寄上次那个地址": the contact of the customer's previous order (not a past purchase).
LAST_ADDRESS = re.compile(
    r"(?:寄|发|送)?(?:到)?(?:上次|上回|之前|以前|原来|老)(?:的|那个|一样的)?(?:地址|地方)|地址(?:不变|没变|没换|一样|照旧|同上次|还是上次的?|跟上次一样|和上次一样)"
    r"|(?:寄|发)(?:到)?老地方|(?:跟|和|同)上次一样(?:的地址)?"
)
# "她会加你": a friend will come by herself; never an order.
FRIEND_LATER = re.compile(
    r"(?:她|他|它)(?:会|自己|待会|等下|等会|回头|晚点)(?:儿)?(?:加你|加您|联系你|联系您|找你|找您|来买|来找|下单|跟你说)"
    r"|(?:让|叫)(?:她|他)(?:加你|加您|找你|找您|联系你|联系您)|(?:推给|推荐给)(?:她|他)"
)
ORDER_FEATURES: dict[str, int] = {
    "strong_verb": 2,
    "weak_verb": 1,
    "product": 1,
    "quantity": 1,
    "phone": 1,
    "address": 1,
    "question": -2,
    "past": -3,
    "deferred": -3,
    "last_address": 2,
    "friend_later": -5,
}
ORDER_THRESHOLD = 2


@dataclass
class IntentResult:
    intent: str
    normalized: str
    topic: str | None = None
    code: str | None = None
    order_score: int = 0
    matched: list[str] = field(default_factory=list)
    parsed: object | None = None  # bot.order_parser.ParsedOrder
    context: dict = field(default_factory=dict)  # what bot.dialogue read from the conversation before


_CODE_AFTER_KEYWORD = re.compile(r"(?:推荐码|邀请码|推广码|优惠码)(?:是)?\s*[:：]?\s*([A-Za-z0-9]{3,16})")
_BARE_CODE = re.compile(r"^\s*([A-Za-z0-9]{4,16})\s*$")


def referral_code(text: str) -> str | None:
    """The code in "推荐码 AB12CD" or a bare code message, upper-cased; None when absent."""
    norm = to_halfwidth(text or "")
    match = _CODE_AFTER_KEYWORD.search(norm) or _BARE_CODE.search(norm)
    return match.group(1).upper() if match else None


def order_features(normalized: str, parsed, matched_intents: set[str]) -> dict[str, bool]:
    """Which ``ORDER_FEATURES`` the message shows."""
    return {
        "strong_verb": bool(ORDER_VERB_STRONG.search(normalized)),
        "weak_verb": bool(ORDER_VERB_WEAK.search(normalized)) and not ORDER_VERB_STRONG.search(normalized),
        "product": bool(parsed.items or parsed.ambiguous or parsed.unknown_product),
        "quantity": bool(parsed.quantities),
        "phone": bool(parsed.phone),
        "address": bool(parsed.address),
        "question": Intent.INQUIRY in matched_intents,
        "past": bool(PAST_PURCHASE.search(LAST_ADDRESS.sub(" ", normalized))),
        "deferred": bool(DEFERRED.search(normalized)),
        "last_address": bool(LAST_ADDRESS.search(normalized)),
        "friend_later": bool(FRIEND_LATER.search(normalized)),
    }


def detect_intent(text: str, catalogue: Sequence = ()) -> IntentResult:
    """Classify a customer's text. ``catalogue``: ``order_parser.CatalogueEntry`` rows."""

    normalized = normalize(text)
    matched: dict[str, Rule] = {}
    for r in RULES:
        if r.intent not in matched and r.matches(normalized):
            matched[r.intent] = r
    parsed = parse_order(normalized, catalogue, normalized_already=True)
    features = order_features(normalized, parsed, set(matched))
    score = sum(ORDER_FEATURES[name] for name, on in features.items() if on)
    has_substance = (
        features["product"]
        or features["strong_verb"]
        or features["last_address"]
        or (features["phone"] and features["address"])
    )
    candidates = set(matched)
    if score >= ORDER_THRESHOLD and has_substance:
        candidates.add(Intent.ORDER)
    intent = next((i for i in PRIORITY if i in candidates), Intent.OTHER)
    topic = matched[Intent.INQUIRY].topic if intent == Intent.INQUIRY else None
    code = referral_code(normalized) if intent == Intent.REFERRAL_CODE else None
    return IntentResult(
        intent=intent,
        normalized=normalized,
        topic=topic,
        code=code,
        order_score=score,
        matched=sorted(candidates),
        parsed=parsed,
    )
