"""Every Chinese text a customer or seller reads, named by purpose.

Texts are ``str.format`` templates. Keep them short: they are read on a phone.
Sections are grouped by the part of the product that sends them.
"""

from storage.excel_sheets import RFM_SEGMENT_LABELS  # noqa: F401  (re-exported with the other labels)

# --- Platform events and fallbacks (webhook) -------------------------------------------------

WELCOME = "欢迎关注！我是店主的小助手🌸\n想买什么直接发给我就行，比如：\n“要两盒面膜，张三 13800138000，广东省深圳市南山区科技园路1号”"
WELCOME_BACK = "欢迎回来！有什么需要随时发消息给我😊"
NON_TEXT_RECEIVED = {
    "image": "收到您的图片啦，店主看到后会尽快回复您～",
    "voice": "收到您的语音啦，方便的话也可以发文字给我，处理更快哦～",
    "video": "收到您的视频啦，店主看到后会尽快回复您～",
    "shortvideo": "收到您的视频啦，店主看到后会尽快回复您～",
    "location": "收到您的位置啦～如需下单，请把收货地址用文字发给我哦。",
    "link": "收到您分享的链接啦，店主看到后会尽快回复您～",
}
NON_TEXT_DEFAULT = "收到啦～如需下单或咨询，直接发文字给我就好。"
SYSTEM_BUSY = "系统有点忙，这条消息没能处理，请过一会儿再发一次🙏"
DEFAULT_REPLY = "收到～店主看到后会尽快回复您。想下单的话，直接发“商品+数量+姓名电话地址”就可以。"

# --- Transactional notices (outbox) ----------------------------------------------------------

SHIPPING_NOTICE = "{name}您好，您的订单 #{order_id} 已发货📦\n商品：{items}\n快递：{courier} {tracking_no}\n收到后有任何问题随时找我～"

# --- Customer conversation: orders, inquiries, parcels, opt-out (bot/customer_replies.py) --------

ORDER_CONFIRMED = (
    "好的，已为您登记订单 #{order_id}👌\n商品：{items}\n合计：{total}\n收件人：{name}\n电话：{phone}\n地址：{address}\n"
    "信息有误的话，直接把正确的发给我就能改（{minutes}分钟内）；回复“取消订单”可取消。"
)
ORDER_UPDATED = (
    "已更新订单 #{order_id}✅\n商品：{items}\n合计：{total}\n收件人：{name}\n电话：{phone}\n地址：{address}"
)
ORDER_NEEDS_MORE = "收到，已记下订单 #{order_id}：{items}，合计 {total}。\n还差{missing}，请直接发给我～"
ORDER_DRAFT_NEEDS_PRODUCT = "好的～请问您想要哪款商品、几件呢？\n目前有：{catalogue}"
ORDER_UNKNOWN_PRODUCT = "抱歉，没找到“{word}”这款商品🙏\n目前有：{catalogue}\n请告诉我您要哪款～"
ORDER_CHOOSE_PRODUCT = "“{word}”有几款，您要哪一款？回复序号就行：\n{options}"
ORDER_MISSING_LABELS = {"name": "收件人姓名", "phone": "手机号", "address": "详细收货地址（省市区+街道门牌）"}
ORDER_MISSING_JOINER = "、"
ORDER_CANCELLED = "好的，订单 #{order_id} 已取消。有需要随时找我～"
ORDER_NOTHING_TO_CANCEL = "好的，已取消～有需要随时找我。"
ORDER_ACKNOWLEDGED = "好的👌 订单 #{order_id} 已记下，店主确认后会尽快安排～"
ORDER_OWN_STILL_NEEDS = "您自己的订单 #{order_id}（{items}）还差{missing}，发给我就行～"
FRIEND_WILL_COME = "好的，欢迎您的朋友来～让TA直接发消息给我就能下单😊"
FRIEND_WILL_COME_CODE = (
    "好的，欢迎您的朋友来～让TA关注后发“推荐码 {code}”给我再下单，首单付款后你们俩都有奖励🎁"
)
ORDER_NOTE_FROM_PROFILE = "收件信息取自客户资料"  # stored on the order: the seller sees it
ORDER_FROM_PROFILE_NOTE = "（收件信息用的是您上次留的，如需更改直接发新的给我）"
# A paid or shipped order is not rewritten by the customer: the change is recorded (order event)
# and forwarded to the seller (bot/customer_replies.py ``_forward_request``).
ORDER_REQUEST_PAID = {
    "change": "订单 #{order_id} 已付款，收件信息要由店主来改：已转告店主，TA 会核对后尽快联系您🙏（发货前都来得及）",
    "cancel": "订单 #{order_id} 已付款，取消和退款要由店主处理：已转告店主，TA 会尽快联系您🙏",
}
ORDER_REQUEST_SHIPPED = {
    "change": (
        "订单 #{order_id} 已经发出了{tracking}，收件信息改不了了🙏 已转告店主，TA 会联系快递看能否改派；"
        "实在改不了的话可以拒收，或收到后联系我们处理～"
    ),
    "cancel": (
        "订单 #{order_id} 已经发出了{tracking}，没法直接取消🙏 已转告店主：您可以拒收包裹，"
        "或收到后联系我们办理退换，店主会尽快联系您～"
    ),
}
ORDER_REQUEST_RECEIVED = {
    "change": "订单 #{order_id} 已经签收啦～如有问题请直接说明情况，已转告店主，TA 会尽快联系您🙏",
    "cancel": "订单 #{order_id} 已经签收啦，需要退换的话已转告店主，TA 会尽快联系您处理🙏",
}
ORDER_REQUEST_TRACKING = "（{courier} {tracking_no}）"
ORDER_ALREADY_CANCELLED = "订单 #{order_id} 之前已经取消了～有需要随时找我。"
SELLER_ORDER_REQUEST = {
    "change": "✏️ 客户要改订单 #{order_id}（{customer}，{status}）：{text}\n订单信息没有改动，请您核对后处理。",
    "cancel": "🚫 客户要取消订单 #{order_id}（{customer}，{status}）：{text}\n订单没有取消，请您联系客户处理（需要时用“取消 #{order_id}”）。",
}
CONTACT_CONFLICT = "您这次留的{label}（{new}）和之前资料里的（{old}）不一样，本单按这次的发。以后也都用新的吗？回复“更新”或“不用”。"
CONTACT_CONFLICT_LABELS = {"phone": "电话", "address": "地址", "name": "姓名"}
CONTACT_UPDATED = "好的，资料已更新为新的✅"
CONTACT_KEPT = "好的，资料保持原来的不变👌"

INQUIRY_PRICE = "{product}：{price}/件。想要的话直接发“数量+姓名电话地址”就能下单～"
INQUIRY_PRICE_LIST = "目前的价格：\n{catalogue}\n想要哪款直接告诉我～"
INQUIRY_USAGE = "{product}一件大约能用 {days} 天。具体用法店主会再跟您细说，也可以随时问我～"
INQUIRY_HOW_TO_ORDER = "直接发给我“商品+数量+收件人+电话+地址”就能下单，比如：\n“要两盒面膜，张三 13800138000，广东省深圳市南山区科技园路1号”"
# Product questions answered from the seller's facts (bot/product_answers.py); never anything else.
PRODUCT_FACT_LABELS = {
    "stock": "库存",
    "how_to": "用法",
    "effect": "功效",
    "suits": "适合",
    "origin": "产地/来源",
    "shelf_life": "保质期",
}
PRODUCT_FACT_LINE = "{label}：{fact}"
PRODUCT_FACT_ANSWER = "关于{product}，店主是这样说的：\n{facts}"
PRODUCT_QUESTION_HANDOVER = "{product}（{price}）：这个我问下店主，稍后回复您🙏"
PRODUCT_USAGE_DAYS_HANDOVER = "{product}一件大约能用 {days} 天。"
PRODUCT_QUESTION_REST = "其他的我问下店主，稍后回复您🙏"
INQUIRY_FORWARDED = "好问题～已经转给店主，TA 会尽快回复您🙏"

MY_ORDERS_HEADER = "您最近的订单："
MY_ORDERS_LINE = "#{order_id} {items} {total} · {status}"
MY_ORDERS_TRACKING = "（{courier} {tracking_no}）"
MY_ORDERS_NONE = "还没查到您的订单哦～想买什么直接发给我就行。"

OPTED_OUT = "已为您退订✅ 之后不会再给您发送优惠和提醒消息（订单和发货通知照常）。想恢复时回复“订阅”即可。"
OPTED_IN = "已恢复订阅🌸 有新品和优惠会第一时间告诉您～回复“TD”可随时退订。"
OPT_IN_ALREADY = "您一直在订阅中哦～"

COMPLAINT_RECEIVED = "非常抱歉给您添麻烦了🙏 已第一时间转告店主，TA 会尽快联系您处理。"
THANKS_REPLY = "不客气～能帮到您就好😊 有需要随时找我！"
PRODUCT_GOOD_REPLY = "太开心听到您这么说🥰 谢谢您的认可！用完了随时来找我～"
GREETING_REPLY = "您好～我在的😊 想买什么、问什么直接发给我就行。"
REFERRAL_CODE_RECEIVED = "收到您的推荐码 {code}，已转给店主登记～"

SELLER_NEW_ORDER = (
    "🛒 新订单 #{order_id}（{customer}）\n{items}\n合计 {total}\n{name} {phone}\n{address}{missing}"
)
SELLER_NEW_ORDER_MISSING = "\n⚠️ 还缺：{missing}"
SELLER_COMPLAINT = "⚠️ 售后问题（{customer}）#{complaint_id}：{text}{order}"
SELLER_COMPLAINT_ORDER = "\n相关订单 #{order_id}"
SELLER_INQUIRY = "❓ 待回复咨询 #{inquiry_id}（{customer}）{product}：{text}"

# --- Referral program (bot/referrals.py, bot/seller/referrals.py) ------------------------------

# The three moments. Placeholders: {code} the customer's code, {offer} REFERRAL_OFFER, {qr} the QR line
# (empty when there is none). The seller may replace each in config (HUITOU_REFERRAL_ASK_*_TEXT).
REFERRAL_ASK_ORDER = (
    "🎁 好东西一起分享：把推荐码 {code} 发给好友，好友关注后发“推荐码 {code}”给我，{offer}。{qr}"
)
REFERRAL_ASK_THANKS = "身边有朋友也需要的话，欢迎推荐给TA～您的推荐码是 {code}，{offer}💕{qr}"
REFERRAL_ASK_PRODUCT_GOOD = (
    "方便的话，用一两句话说说您的使用感受吗？直接回复我就行，店主会很珍惜的🙏\n"
    "也欢迎推荐给身边的朋友：推荐码 {code}，{offer}。{qr}"
)
REFERRAL_OFFER = "好友首单付款后，您得{referrer_reward}，好友得{referee_reward}"
REFERRAL_REWARD_POINTS = "{points}积分"
REFERRAL_REWARD_COUPON = "{amount}优惠券"
REFERRAL_REWARD_JOINER = "+"
REFERRAL_REWARD_NONE = "一份店主的心意"
REFERRAL_QR_LINE = "\n专属二维码：{url}"
REFERRAL_THANKS_WARM = "能帮到您真开心😊 谢谢您一直的支持！"
TESTIMONIAL_THANKS = "谢谢您的分享💕 已经转告店主啦，TA 一定很开心！"

# A code typed by the customer ("推荐码 AB23CD").
REFERRAL_APPLIED = "已为您登记好友的推荐码 {code}✅ 您的首单付款后，将获得{referee_reward}～"
REFERRAL_APPLIED_HELD = "收到推荐码 {code}，店主核实后生效～"
REFERRAL_UNKNOWN_CODE = "没找到推荐码 {code}，请核对一下哦（推荐码是6位字母和数字，不含 0、O、1、I）。"
REFERRAL_SELF = "这是您自己的推荐码哦～分享给好友，好友首单付款后您就能拿到奖励🎁"
REFERRAL_ALREADY = "您已经登记过推荐人啦，推荐关系登记后不能更改哦～"
REFERRAL_SAME = "这个推荐码已经为您登记过啦✅"
REFERRAL_NOT_NEW = (
    "推荐码仅限第一次购买的新朋友使用哦～您也可以把自己的推荐码 {code} 分享给好友，好友首单付款后您有奖励🎁"
)
REFERRAL_CYCLE = "你们已经是推荐关系啦，不能互相推荐哦～"

# Following through a friend's QR code (scene ref_<code>), after the welcome.
REFERRAL_SCENE_WELCOME = "您是好友推荐来的🎁 首单付款后，您将获得{referee_reward}。"
REFERRAL_SCENE_SELF = "这是您自己的推荐二维码，分享给好友就好～"

# "我的积分" / "推荐码": the customer's code and ledger.
REFERRAL_ACCOUNT = (
    "您的推荐码：{code}{qr}\n"
    "积分：{points} 分（累计获得 {earned}，已使用 {spent}）\n"
    "优惠券余额：{coupon}\n{offer}。"
)
REFERRAL_ACCOUNT_NO_QR = "\n（专属二维码暂不可用，直接分享推荐码就行）"
REFERRAL_ACCOUNT_QR_PENDING = "\n（专属二维码正在生成，稍后再发“推荐码”就能看到；直接分享推荐码也可以）"
REFERRAL_ACCOUNT_RECENT = "最近记录："
REFERRAL_LEDGER_LINE = "· {date} {reason} {change}"
REFERRAL_LEDGER_REASONS = {
    "referrer_reward": "推荐好友奖励",
    "referee_reward": "新朋友首单奖励",
    "reward_reversed": "订单取消，奖励撤回",
    "redeem": "抵扣订单",
    "redeem_refund": "订单取消，抵扣退回",
}

# Reward notices (outbox, kind referral_reward).
REFERRAL_REWARD_NOTICE_REFERRER = "🎉 您推荐的好友完成了首单，奖励已到账：{reward}。回复“我的积分”随时查看～"
REFERRAL_REWARD_NOTICE_REFEREE = "🎉 首单奖励已到账：{reward}。回复“我的积分”随时查看～"

# The seller's side.
REFERRAL_HOLD_REASONS = {"same_phone": "与推荐人电话相同", "same_address": "与推荐人地址相同"}
SELLER_REFERRAL_HELD = "⚠️ 推荐待审核 #{referral_id}：{referrer} → {referee}（{reason}）\n回复“审核 #{referral_id} 通过”或“审核 #{referral_id} 拒绝”"
SELLER_GROUP_REFERRALS = "推荐"
REFERRAL_SELLER_HELP = {
    "推荐": {
        "usage": "推荐",
        "summary": "推荐计划数据：推荐人数、成交、奖励、推荐达人和值得邀请的老客",
        "example": "推荐",
    },
    "审核": {
        "usage": "审核  ·  审核 #推荐号 通过/拒绝",
        "summary": "处理可疑的推荐（同电话/同地址）",
        "example": "审核 #3 通过",
    },
    "兑换": {
        "usage": "兑换 #订单号 积分数  ·  兑换 #订单号 10元（用优惠券）",
        "summary": "用客户的积分或优惠券抵扣订单",
        "example": "兑换 #12 200",
    },
    "代理": {"usage": "代理 客户", "summary": "把客户升为代理", "example": "代理 #7"},
    "积分": {"usage": "积分 客户", "summary": "客户的推荐码、积分和奖励记录", "example": "积分 #7"},
}
SELLER_REFERRALS_HEADER = "🤝 推荐计划"
SELLER_REFERRALS_TOTALS = "累计推荐 {made} 人 · 成交 {converted} · 待审核 {held} · 撤回 {reversed}"
SELLER_REFERRALS_RECENT = "近30天：推荐 {made} 人 · 成交 {converted}"
SELLER_REFERRALS_REWARDS = "已发奖励：{points} 积分 + {coupon} 优惠券"
SELLER_REFERRALS_TOP = "推荐达人："
SELLER_REFERRALS_TOP_LINE = "{line} · 推荐{made}人/成交{converted} · 近一年买{orders}次"
SELLER_REFERRALS_CANDIDATES = "值得邀请（常买、爱互动）："
SELLER_REFERRALS_CANDIDATE_LINE = "{line} · 近一年买{orders}次 · 互动{sociable}次"
SELLER_REFERRALS_NONE = "还没有推荐记录。客户下单、道谢或夸产品时，我会自动邀请他们推荐好友～"
SELLER_REFERRALS_HELD_HINT = "有 {held} 个推荐待审核，发“审核”查看"
SELLER_REFERRALS_FIGURES_LINE = "推荐：累计 {made} 人，成交 {converted}，已发 {points} 积分 + {coupon} 优惠券"
SELLER_REVIEW_HEADER = "待审核的推荐："
SELLER_REVIEW_LINE = "推荐#{referral_id}：{referrer} → {referee}（{reason}）{order}"
SELLER_REVIEW_LINE_ORDER = " 首单 #{order_id}"
SELLER_REVIEW_NONE = "没有待审核的推荐👌"
SELLER_REVIEW_NEED_DECISION = "请写明“通过”或“拒绝”"
SELLER_REVIEW_NOT_FOUND = "没有推荐 #{referral_id}"
SELLER_REVIEW_APPROVED = "推荐 #{referral_id} 已通过✅ {result}"
SELLER_REVIEW_APPROVED_REWARDED = "首单已付款，双方奖励已发放。"
SELLER_REVIEW_APPROVED_WAITING = "好友首单付款后自动发放奖励。"
SELLER_REVIEW_REJECTED = "推荐 #{referral_id} 已拒绝，不发奖励。"
SELLER_REDEEM_NEED_AMOUNT = "请写要抵扣的积分数（如 200）或优惠券金额（如 10元）"
SELLER_REDEEM_BAD_AMOUNT = "“{word}”不是有效的数量"
SELLER_REDEEM_POINTS = "{points} 积分"
SELLER_REDEEM_COUPON = "{amount} 优惠券"
SELLER_REDEEM_DONE = (
    "订单 #{order_id} 已抵扣 {what}（{discount}），应收 {due}\n{customer} 剩余 {points} 积分、{coupon} 优惠券"
)
SELLER_PROMOTED = "已将 {line} 升为代理✅"
SELLER_ALREADY_DISTRIBUTOR = "{line} 已经是代理了"
SELLER_LEDGER_HEADER = "{line} · 推荐码 {code}"
SELLER_LEDGER_POINTS = "积分 {balance}（获得 {earned} · 已用 {spent} · 撤回 {reversed}）"
SELLER_LEDGER_COUPON = "优惠券 {balance}（获得 {earned} · 已用 {spent} · 撤回 {reversed}）"
SELLER_LEDGER_REFERRALS = "推荐 {made} 人 · 成交 {converted}{referrer}"
SELLER_LEDGER_REFERRED_BY = " · 由 #{referrer_id} 推荐"
SELLER_LEDGER_ENTRY_ORDER = " #{order_id}"
SELLER_LEDGER_EMPTY = "还没有积分记录"
# --- Seller console (bot/seller/) ------------------------------------------------------------

# Command help: usage line, one-line summary, and the example the README cheat sheet shows.
SELLER_HELP = {
    "帮助": {"usage": "帮助 [命令]", "summary": "列出所有命令；加命令名看用法", "example": "帮助 发货"},
    "更多": {"usage": "更多", "summary": "列表的下一页", "example": "更多"},
    "商品": {
        "usage": "商品 名称 价格 [天数] [别名 a,b]  ·  商品（列表）",
        "summary": "上新或修改商品；不带参数列出在售商品",
        "example": "商品 面膜 99 30天 别名 补水面膜,面膜贴",
    },
    "下架": {
        "usage": "下架 名称或#商品号",
        "summary": "商品停售（历史订单不受影响）",
        "example": "下架 面膜",
    },
    "上架": {"usage": "上架 名称或#商品号", "summary": "重新上架已下架的商品", "example": "上架 面膜"},
    "付款": {"usage": "付款 #订单号", "summary": "标记订单已付款", "example": "付款 #12"},
    "发货": {
        "usage": "发货 #订单号 快递公司 运单号",
        "summary": "发货并自动通知客户",
        "example": "发货 #12 顺丰 SF1234567890",
    },
    "收货": {"usage": "收货 #订单号", "summary": "标记客户已收货", "example": "收货 #12"},
    "取消": {"usage": "取消 #订单号 [原因]", "summary": "取消未发货的订单", "example": "取消 #12"},
    "订单": {"usage": "订单 #订单号", "summary": "订单详情和处理记录", "example": "订单 #12"},
    "未付款": {"usage": "未付款", "summary": "待付款的订单", "example": "未付款"},
    "未发货": {"usage": "未发货", "summary": "已付款、还没发货的订单", "example": "未发货"},
    "记单": {
        "usage": "记单 客户 商品数量… [已付款]",
        "summary": "替客户补记一笔订单（客户可写#号、电话或名字）",
        "example": "记单 #7 面膜2 眼霜1",
    },
    "客户": {
        "usage": "客户 电话/尾号/昵称/姓名/#客户号",
        "summary": "查客户资料",
        "example": "客户 13800138000",
    },
    "备注": {
        "usage": "备注 客户 内容",
        "summary": "记下客户提到的事，下次关心一句",
        "example": "备注 #7 孩子下月高考",
    },
    "标签": {
        "usage": "标签 客户 标签1,标签2  ·  -标签 去掉  ·  清空",
        "summary": "给客户加/去标签",
        "example": "标签 #7 老客,敏感肌",
    },
    "生日": {
        "usage": "生日 客户 日期（1990-05-20、5月20日、农历八月十五）",
        "summary": "记客户生日（公历或农历）",
        "example": "生日 #7 农历八月十五",
    },
    "咨询": {"usage": "咨询", "summary": "待回复的客户咨询", "example": "咨询"},
    "回复": {
        "usage": "回复 #咨询号 内容",
        "summary": "通过公众号回复客户的咨询",
        "example": "回复 #5 敏感肌可以用，先在耳后试一下",
    },
    "关闭": {"usage": "关闭 #咨询号", "summary": "不回复，直接关闭咨询", "example": "关闭 #5"},
    "统计": {"usage": "统计", "summary": "今天/本周/本月的经营数据和客户分布", "example": "统计"},
    "导出": {"usage": "导出", "summary": "下载客户资料 Excel 的链接", "example": "导出"},
    "待发": {"usage": "待发", "summary": "需要您用个人微信手动发送的消息", "example": "待发"},
    "已发": {"usage": "已发 #编号", "summary": "标记一条待发消息已手动发送", "example": "已发 #41"},
    "待办": {
        "usage": "待办",
        "summary": "您不在时积压的通知（新订单、咨询、售后、待发汇总）",
        "example": "待办",
    },
}
SELLER_HELP["资料"] = {
    "usage": "资料 商品 项目 内容  ·  资料 商品（查看）  ·  资料 商品 项目 删除",
    "summary": "商品资料（库存、用法、功效、适合、产地、保质期），客户问到时按这些回答",
    "example": "资料 面膜 用法 每周2-3次",
}
SELLER_FACTS_HEADER = "📋 {name}的资料："
SELLER_FACTS_NONE = "{name}还没有资料。可以写：{kinds}，如：资料 {name} 用法 每周2-3次"
SELLER_FACT_BAD_KIND = "没有“{word}”这一项，可以写：{kinds}。"
SELLER_FACT_NEED_TEXT = "请写{label}的内容。"
SELLER_FACT_TOO_LONG = "内容太长了，请控制在{limit}字以内。"
SELLER_GROUP_GENERAL = "通用"
SELLER_GROUP_CATALOGUE = "商品"
SELLER_GROUP_ORDERS = "订单"
SELLER_GROUP_CUSTOMERS = "客户"
SELLER_GROUP_INQUIRIES = "咨询"
SELLER_GROUP_FIGURES = "统计"
SELLER_GROUP_EXPORT = "导出"
SELLER_GROUP_DRAFTS = "待发"

SELLER_HELP_HEADER = "🛠 店主命令："
SELLER_HELP_GROUP = "【{group}】{names}"
SELLER_HELP_FOOTER = "发“帮助 命令名”看用法，如：帮助 发货"
SELLER_HELP_ONE = "{name}：{summary}\n用法：{usage}\n例子：{example}{aliases}"
SELLER_HELP_ALIASES = "\n也可以说：{aliases}"
SELLER_HELP_UNKNOWN = "没有“{word}”这个命令。"
SELLER_USAGE = "用法：{usage}"
SELLER_NOT_A_COMMAND = "这是店主账号，发“帮助”查看可用命令。"
SELLER_UNKNOWN_SUGGEST = "没有“{word}”这个命令，您是想用“{name}”吗？\n用法：{usage}"
SELLER_COMMAND_FAILED = "这条命令没能执行，什么都没有改动，请稍后再试。"
SELLER_NO_ARGS = "这个命令不需要加内容。"
SELLER_NONE = "无"
SELLER_NO_NAME = "（无名）"
SELLER_NO_MORE = "没有更多了。"
SELLER_PAGE_FOOTER = "第{start}-{end}条，共{total}条，发“更多”看下一页"

SELLER_NEED_ORDER_REF = "请写订单号，如 #12。"
SELLER_BAD_ORDER_REF = "“{word}”不是订单号，订单号写成 #12。"
SELLER_ORDER_NOT_FOUND = "没有订单 #{order_id}，请核对订单号（发“未付款”或“未发货”可查）。"
SELLER_NEED_CUSTOMER = "请写客户：#客户号、手机号、昵称或姓名。"
SELLER_CUSTOMER_NOT_FOUND = "没找到客户“{query}”。可以用 #客户号、手机号、手机尾号、昵称或姓名查。"
SELLER_CUSTOMER_AMBIGUOUS = "“{query}”对应多位客户，请用 #客户号：\n{lines}{more}"
SELLER_MORE_MATCHES = "\n……还有更多，请写得更具体些"

SELLER_PRODUCT_DAYS = "{days}天"
SELLER_PRODUCT_ALIASES = "别名：{aliases}"
SELLER_PRODUCT_RETIRED_MARK = "已下架"
SELLER_PRODUCT_ADDED = "✅ 已上新：{line}"
SELLER_PRODUCT_UPDATED = "✅ 已更新：{line}"
SELLER_PRODUCT_NEED_PRICE = "还没有“{name}”这款商品。上新要写价格（元），天数可选。"
SELLER_PRODUCT_TOO_MANY = "内容多了：只需 名称、价格、天数，别名写在“别名”后面。"
SELLER_PRODUCT_BAD_NAME = "“{name}”不像商品名称，名称写在最前面。"
SELLER_PRODUCT_BAD_PRICE = "价格“{word}”不对，请写元，如 99 或 99.5。"
SELLER_PRODUCT_NEGATIVE_PRICE = "价格不能是负数（{word}）。"
SELLER_PRODUCT_BAD_DAYS = "天数“{word}”不对，请写 1～3650 之间的天数，如 30天。"
SELLER_PRODUCT_NO_ALIASES = "“别名”后面要写别名，用逗号隔开。"
SELLER_PRODUCT_ALIAS_TAKEN = "别名“{alias}”已经是“{other}”在用，换一个吧。"
SELLER_PRODUCT_ALIASES_TOO_LONG = "别名太多了，请精简一些。"
SELLER_PRODUCT_NEED_NAME = "请写商品名称或 #商品号。"
SELLER_PRODUCT_NOT_FOUND = "没有“{name}”这款商品，发“商品”看列表。"
SELLER_PRODUCT_RETIRED = "✅ 已下架：{name}（客户下单时不再出现，发“上架 {name}”可恢复）"
SELLER_PRODUCT_ALREADY_RETIRED = "“{name}”本来就是下架状态。"
SELLER_PRODUCT_RESTORED = "✅ 已重新上架：{name}"
SELLER_PRODUCT_ALREADY_ACTIVE = "“{name}”正在售卖中。"
SELLER_PRODUCTS_HEADER = "🛍 在售商品（{total}款）："
SELLER_PRODUCTS_RETIRED = "\n另有已下架 {count} 款"
SELLER_PRODUCTS_EMPTY = "还没有商品。上新：商品 面膜 99 30天"

SELLER_ORDER_PAID = "✅ 已标记付款：{line}"
SELLER_ORDER_RECEIVED = "✅ 已确认收货：{line}"
SELLER_ORDER_CANCELLED = "✅ 已取消：{line}"
SELLER_ORDER_SHIPPED = "📦 已发货：{line}\n{courier} {tracking_no}\n{notice}"
SELLER_SHIP_NOTICE_QUEUED = "发货通知已排队发给客户。"
SELLER_SHIP_NOTICE_ALREADY = "这单的发货通知之前已发过，不重复发送。"
SELLER_SHIP_NEED_TRACKING = "请写快递公司和运单号。"
SELLER_SHIP_TOO_MANY = "内容多了：只需 #订单号、快递公司、运单号，用空格隔开。"
SELLER_SHIP_BAD_COURIER = "“{word}”不像快递公司名称，快递公司写在运单号前面。"
SELLER_SHIP_BAD_TRACKING = "运单号“{word}”不对，只能是字母和数字（6位以上）。"
SELLER_ORDER_HEADER = "📄 订单 #{order_id} · {status}\n客户：{customer}（#{customer_id}）"
SELLER_ORDER_ITEMS = "{items} 合计{total}"
SELLER_ORDER_TRACKING = "快递：{courier} {tracking_no}"
SELLER_ORDER_HISTORY = "处理记录："
SELLER_ORDER_EVENT = "{time} {action}（{actor}）{detail}"
SELLER_EVENT_LABELS = {
    "create": "下单",
    "pay": "付款",
    "ship": "发货",
    "receive": "收货",
    "cancel": "取消",
    "change_request": "客户要求修改",
    "cancel_request": "客户要求取消",
}
SELLER_ACTOR_ME = "您"
SELLER_ACTOR_LABELS = {"customer": "客户", "system": "系统", "cli": "命令行", "import": "导入"}
SELLER_ACTOR_OTHER_SELLER = "其他店主账号"
SELLER_UNPAID_HEADER = "💰 未付款订单（{total}笔）："
SELLER_UNPAID_EMPTY = "没有未付款的订单👍"
SELLER_UNSHIPPED_HEADER = "📦 已付款待发货（{total}笔）："
SELLER_UNSHIPPED_EMPTY = "没有待发货的订单👍"
SELLER_RECORD_NEED_ITEMS = "请写客户和商品数量，如：记单 #7 面膜2 眼霜1"
SELLER_RECORD_AMBIGUOUS = "“{word}”有几款：{options}，请写全称。"
SELLER_RECORD_NO_PRODUCT = "没认出“{text}”里的商品。在售：{catalogue}"
SELLER_RECORD_NO_ADDRESS = "\n⚠️ 客户资料里没有完整的电话和地址，发货前请补上。"
SELLER_ORDER_RECORDED = "✅ 已记单：{line}（{status}）{missing}"

SELLER_STAGE_LABELS = {
    "prospect": "潜客",
    "new": "新客",
    "returning": "老客户",
    "loyal": "忠诚客户",
    "fan": "粉丝",
    "distributor": "代理",
    "sleeping": "沉睡",
    "lost": "流失",
}
SELLER_PROFILE_HEADER = "👤 {line}"
SELLER_PROFILE_STAGE = "阶段：{stage} · 等级：{klass}"
SELLER_PROFILE_ORDERS = "订单：{orders}笔 · 累计消费：{spent}"
SELLER_PROFILE_TIMING = "最近购买：{last} · 预计回购：{next}"
SELLER_PROFILE_REFERRAL = "推荐码：{code} · 推荐：{referrals}人 · 积分：{points}"
SELLER_PROFILE_ADDRESS = "地址：{address}"
SELLER_PROFILE_TAGS = "标签：{tags} · 生日：{birthday}"
SELLER_PROFILE_NOTES = "备注："
SELLER_PROFILE_NOTE = "· {date} {text}"
SELLER_PROFILE_OPTED_OUT = "⚠️ 已退订营销消息"
SELLER_NOTE_EMPTY = "请写备注内容。"
SELLER_NOTE_TOO_LONG = "备注太长了，请控制在{limit}字以内。"
SELLER_NOTE_ADDED = "📝 已记下（{customer} #{customer_id}）：{text}"
SELLER_TAGS_EMPTY = "请写标签，多个用逗号隔开。"
SELLER_TAGS_CLEAR_WORD = "清空"
SELLER_TAG_NOT_SET = "客户没有“{tag}”这个标签。"
SELLER_TAGS_TOO_LONG = "标签太多了，请精简一些。"
SELLER_TAGS_SET = "🏷 {customer}（#{customer_id}）的标签：{tags}"
SELLER_BIRTHDAY_EMPTY = "请写生日日期。"
SELLER_BIRTHDAY_BAD = "“{text}”不是有效的日期。"
SELLER_BIRTHDAY_SET = "🎂 已记下 {customer}（#{customer_id}）的生日：{birthday}"

SELLER_NEED_INQUIRY_REF = "请写咨询号，如 #5（发“咨询”可查）。"
SELLER_BAD_INQUIRY_REF = "“{word}”不是咨询号，咨询号写成 #5。"
SELLER_INQUIRY_NOT_FOUND = "没有咨询 #{inquiry_id}，发“咨询”看待回复的。"
SELLER_INQUIRIES_HEADER = "❓ 待回复咨询（{total}条）："
SELLER_INQUIRIES_EMPTY = "没有待回复的咨询👍"
SELLER_INQUIRY_LINE = "#{inquiry_id} {customer} {time}{product}：{text}"
SELLER_ANSWER_EMPTY = "请写回复内容。"
SELLER_ANSWER_TOO_LONG = "回复太长了，请控制在{limit}字以内。"
SELLER_ANSWER_TO_CUSTOMER = "关于您问的“{question}”：\n{answer}"
SELLER_ANSWER_QUEUED = "✅ 已回复咨询 #{inquiry_id}，消息已排队发给 {customer}。"
SELLER_INQUIRY_ALREADY_ANSWERED = "咨询 #{inquiry_id} 已经回复过了，不重复发送。"
SELLER_INQUIRY_IS_CLOSED = "咨询 #{inquiry_id} 已关闭，不能再回复。"
SELLER_INQUIRY_CLOSED = "✅ 已关闭咨询 #{inquiry_id}"
SELLER_INQUIRY_ALREADY_CLOSED = "咨询 #{inquiry_id} 本来就是关闭的。"

SELLER_FIGURES_HEADER = "📊 经营统计（{date}）"
SELLER_FIGURES_PERIODS = {"today": "今天", "week": "本周", "month": "本月"}
SELLER_FIGURES_PERIOD = "【{label}】新客{new} · 订单{orders} · 推荐{referrals}"
SELLER_FIGURES_MONEY = "　营业额{revenue} · 客单价{aov} · 复购率{rate}"
SELLER_FIGURES_POOL = "【客户】共{total} · 沉睡{sleeping} · 流失{lost}"
SELLER_FIGURES_STAGES = "　阶段：{stages}"
SELLER_FIGURES_CLASSES = "　等级：{classes}"
SELLER_FIGURES_UNCLASSIFIED = "未分级{count}"

SELLER_EXPORT_LINK = (
    '📥 <a href="{url}">下载客户资料表格（Excel）</a>\n{minutes}分钟内有效，只能下载一次，仅限本账号。'
)

SELLER_DRAFTS_HEADER = "✉️ 待您手动发送（{total}条），复制后用个人微信发给客户，发完回复“已发 #编号”："
SELLER_DRAFTS_EMPTY = "没有需要手动发送的消息👍"
SELLER_DRAFT_LINE = "—— #{draft_id} 发给 {customer}：\n{text}"
SELLER_NEED_DRAFT_REF = "请写待发消息的编号，如：已发 #41"
SELLER_BAD_DRAFT_REF = "“{word}”不是编号，写成 #41。"
SELLER_DRAFT_NOT_FOUND = "没有待发消息 #{draft_id}（可能已经标记过了），发“待发”看列表。"
SELLER_CUSTOMER_NICKNAME = "（{nickname}）"
SELLER_DRAFT_CUSTOMER = "{name}（#{customer_id}）"
SELLER_INQUIRY_PRODUCT = "【{product}】"
SELLER_FIGURES_CLASS = "{klass}类{count}"
SELLER_FIGURES_COUNT = "{label}{count}"
SELLER_BIRTHDAY_YEAR = "{year}年"
SELLER_BIRTHDAY_LUNAR = "农历{year}{month}{day}"
SELLER_BIRTHDAY_SOLAR = "{year}{month}月{day}日"
SELLER_LUNAR_MONTH_LABELS = (
    "",
    "正月",
    "二月",
    "三月",
    "四月",
    "五月",
    "六月",
    "七月",
    "八月",
    "九月",
    "十月",
    "冬月",
    "腊月",
)
SELLER_LUNAR_DAY_LABELS = (
    "",
    "初一",
    "初二",
    "初三",
    "初四",
    "初五",
    "初六",
    "初七",
    "初八",
    "初九",
    "初十",
    "十一",
    "十二",
    "十三",
    "十四",
    "十五",
    "十六",
    "十七",
    "十八",
    "十九",
    "二十",
    "廿一",
    "廿二",
    "廿三",
    "廿四",
    "廿五",
    "廿六",
    "廿七",
    "廿八",
    "廿九",
    "三十",
)
SELLER_DRAFT_DONE = "✅ 已标记 #{draft_id} 为已发送，还剩 {left} 条待发。"
# --- Outbound delivery and the scheduler (bot/delivery, scheduler/) ----------------------------

PAYMENT_REMINDER = "{name}您好，您的订单 #{order_id}（{items}，合计 {total}）还没有付款哦～付款后我们马上安排发货。如不需要了回复“取消订单”即可🙏"
DRAFT_DIGEST_HEADER = (
    "📝 今日待发：{count} 条消息公众号发不出去（比如客户超过48小时没来消息），需要您用个人微信手动发给客户"
)
DRAFT_DIGEST_LINE = "#{id} {customer}：{text}"
DRAFT_DIGEST_MORE = "……还有 {count} 条"
DRAFT_DIGEST_FOOTER = "回复“待发”查看全文；用个人微信发完后回复“已发 #编号”。"
DRAFT_DIGEST_UNKNOWN_CUSTOMER = "客户"
# Default template fields per kind (used when DELIVERY_TEMPLATES gives a template id without "fields").
TEMPLATE_DEFAULT_FIELDS = {
    "ship": {
        "first": "{name}您好，您的订单已发货",
        "keyword1": "#{order_id}",
        "keyword2": "{courier}",
        "keyword3": "{tracking_no}",
        "remark": "商品：{items}",
    },
    "payment_reminder": {
        "first": "{name}您好，您的订单还未付款",
        "keyword1": "#{order_id}",
        "keyword2": "{total}",
        "remark": "商品：{items}",
    },
}
# --- Excel export/import ---
EXPORT_FILENAME = "回头客户池-{date}.xlsx"
EXPORT_LINK_REFUSED_TITLE = "无法下载"
EXPORT_DOWNLOAD_TITLE = "下载客户资料表格"
# The token is in the link's fragment (never sent in a request line, so never in an access log):
# the script copies it into the form, and drops it from the address bar when the button is pressed.
EXPORT_DOWNLOAD_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
    '<body style="font-family:sans-serif;padding:2em;line-height:1.6"><h1>{title}</h1>'
    '<form method="post" action="" id="download"><input type="hidden" name="token" id="token">'
    '<button type="submit" style="font-size:1.2em;padding:.5em 1.5em">下载表格</button></form>'
    "<p>链接只能下载一次，几分钟内有效。如果在微信里无法下载，请点右上角“…”，选择“在浏览器打开”后再点按钮。</p>"
    '<p id="missing" hidden>这个地址缺少下载凭证，请直接点开对话里的链接。</p>'
    "<noscript><p>请允许网页运行脚本后再下载。</p></noscript>"
    "<script>(function(){{var t=decodeURIComponent(location.hash.slice(1));"
    'var f=document.getElementById("download");document.getElementById("token").value=t;'
    'if(!t){{f.hidden=true;document.getElementById("missing").hidden=false;}}'
    'f.addEventListener("submit",function(){{history.replaceState(null,"",location.pathname);}});}})();</script>'
    "</body></html>"
)
EXPORT_LINK_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
    '<body style="font-family:sans-serif;padding:2em;line-height:1.6"><h1>{title}</h1><p>{message}</p>'
    "<p>请在公众号对话里发送“导出”获取新的下载链接。</p></body></html>"
)
# --- retention ---
# Product-cycle messages ({name}: customer, {products}: the order's products, {offer}: RETENTION_OFFER).
RETENTION_EXPERIENCE = (
    "{name}您好～{products}应该已经收到啦📦 用之前先看看说明，开封后注意密封保存。用着有任何问题随时问我哦～"
)
RETENTION_CARE = "{name}，{products}用了一段时间了，感觉怎么样？有什么疑问或小心得都可以跟我说说😊"
RETENTION_REPURCHASE = "{name}，算算日子，您的{products}快用完啦～需要续上的话直接回复“再来一份{products}”，我按上次的地址给您安排📦"
RETENTION_LAPSE = "{name}，{products}应该已经用完一阵子了吧？回来续购送您一份老客心意：{offer}，回复“再来一份{products}”就行🌸"
RETENTION_INQUIRY_FOLLOWUP = (
    "{name}您好，之前您问的{product}还有什么想了解的吗？想要的话直接发“数量+姓名电话地址”就能下单～"
)
RETENTION_INQUIRY_PRODUCT_FALLBACK = "问题"
# Festival greetings by festival slug (scheduler/calendar.py FESTIVALS); class A customers also get the offer.
FESTIVAL_GREETINGS = {
    "new-year": "{name}，元旦快乐🎉 新的一年愿您万事顺意、越来越美！",
    "spring-festival": "{name}，春节快乐🧧 给您拜个早年，祝新春大吉、阖家幸福！",
    "lantern": "{name}，元宵节快乐🏮 记得吃汤圆，团团圆圆、甜甜蜜蜜！",
    "womens-day": "{name}，女神节快乐🌷 愿您永远被温柔以待，美丽自在！",
    "520": "{name}，520快乐💗 爱别人之前，也要好好爱自己哦～",
    "dragon-boat": "{name}，端午安康🎋 记得吃粽子，平安喜乐！",
    "618": "{name}，618年中好物节来啦🛍️ 感谢您一直以来的支持！",
    "qixi": "{name}，七夕快乐💞 愿您被爱包围，甜甜蜜蜜～",
    "mid-autumn": "{name}，中秋快乐🥮 月圆人团圆，祝您和家人幸福安康！",
    "national-day": "{name}，国庆快乐🇨🇳 假期愉快，出行平安！",
    "double-11": "{name}，双11来啦🛒 感谢一路相伴，囤货记得找我～",
}
FESTIVAL_OFFER = "\n🎁 老客专享：{offer}"
BIRTHDAY_GREETING = "{name}，提前祝您生日快乐🎂 愿新的一岁健康美丽、心想事成！"
BIRTHDAY_OFFER = "\n🎁 生日礼：{offer}"
RETENTION_OFFER = "本月下单立减20元"
# Win-back sequence for sleeping customers: we miss you → why they bought → what's new / an offer.
WINBACK_STEPS = (
    "{name}，好久没见您啦，有点想您😊 最近还好吗？",
    "{name}，还记得您之前买的{products}吗？不少老顾客说用完一直惦记～需要的话随时找我。",
    "{name}，店里上了新品，也给您留了一份老客福利：{offer}。想看看的话回我一句就行🌸",
)
RETENTION_DEFAULT_NAME = "亲"
# The RFM segments' names, as the export's 客户 sheet writes them (kept with the export in storage).

# --- outbox rows as the seller reads them (simulator views; the stored values stay English) -----

OUTBOX_KIND_LABELS = {
    "experience": "使用指导",
    "care": "使用关怀",
    "repurchase": "回购提醒",
    "lapse": "断货提醒",
    "followup": "咨询跟进",
    "festival": "节日祝福",
    "birthday": "生日祝福",
    "winback": "老客召回",
    "ship": "发货通知",
    "payment_reminder": "付款提醒",
    "referral_reward": "推荐奖励通知",
    "inquiry_answer": "咨询回复",
    "reply": "聊天回复",
    "seller_notice": "店主通知",
    "draft_digest": "待发汇总",
}
OUTBOX_CHANNEL_LABELS = {
    "service": "客服消息",
    "template": "模板消息",
    "subscribe": "订阅通知",
    "draft": "店主草稿",
    "sandbox": "沙箱投递",
    "wecom": "企业微信群发",
    "wecom_app": "企业微信应用消息",
    "wecom_welcome": "企业微信欢迎语",
    None: "—",
}
OUTBOX_STATUS_LABELS = {
    "pending": "待发送",
    "claimed": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "drafted": "已转草稿",
    "skipped": "已跳过",
    "failed": "失败",
    "cancelled": "已取消",
}
OUTBOX_SKIP_REASON_LABELS = {
    "opted_out": "客户已退订",
    "unsubscribed": "客户已取消关注",
    "capped": "已达营销条数上限",
    "unreachable": "联系不上客户",
    "out_of_window": "超过48小时互动窗口",
    "complaint_open": "客户有未处理的售后",
    "customer_replied": "客户已回复，召回停止",
    "order_pay": "订单已付款",
    "order_ship": "订单已发货",
    "order_cancel": "订单已取消",
    "new_order": "客户又下了新单",
    "newer_order": "同款有了更新的订单",
}
OUTBOX_KIND_OTHER = "其他消息"
OUTBOX_SKIP_REASON_OTHER = "其他原因"
OUTBOX_ERROR_LABEL = "接口返回：{error}"
OUTBOX_DRAFT_SUFFIX = "（待店主手动发送）"
OUTBOX_TAG = "{channel} · {kind}"

# --- simulator (handlers/simulator.py, storage/demo.py) ----------------------------------------

SIM_NEED_JSON = "请求格式不对：模拟器只接受 JSON。"
SIM_HOST_REFUSED = "模拟器只接受本机地址（127.0.0.1 或 localhost）的访问。"
SIM_EMPTY_TEXT = "消息不能为空～"
SIM_TEXT_TOO_LONG = "消息太长了（最多 {limit} 个字），请分几条发。"
SIM_UNKNOWN_CONTACT = "没有找到这个聊天对象，请先在左侧选择或新建客户。"
SIM_NICKNAME_TOO_LONG = "昵称太长了（最多 {limit} 个字）。"
SIM_BAD_TIME = "时间格式不对，请用“2026-12-20T10:00”这样的格式。"
SIM_TIME_NOT_LATER = "只能往后调：请选一个晚于当前模拟时间（{now}）的时间。"
SIM_JUMP_TOO_FAR = "一次最多往后调 {days} 天（每天都要运行一次定时任务），更远的话请分几次调。"
SIM_WEBHOOK_FAILED = "消息没有送达机器人（HTTP {status}）。"
SIM_SCHEDULER_MISSING = "调度器模块还没有安装（scheduler.tick），时间已调整，但没有运行定时任务。"
SIM_SCHEDULER_FAILED = "运行定时任务出错：{error}"
SIM_DEMO_LOADED = "演示店铺已就绪：新增商品 {products} 个、客户 {customers} 位、历史订单 {orders} 笔。"
SIM_DEMO_REFUSED = "生产模式下不能载入演示数据（会混进真实客户池）。"
# The simulator's WeCom mode (handlers/simulator/wecom.py).
SIM_WECOM_MODE_ON = "企业微信模式已开启：客户可以加店主企业微信，群发任务在右侧等店主一键发送。"
SIM_WECOM_REAL_SETTINGS = "已配置真实的企业微信，模拟器不会用它：请去掉 WECOM_* 设置后再开启企业微信模式。"
SIM_WECOM_MODE_OFF = "请先开启企业微信模式。"
SIM_WECOM_ADDED = "客户已通过专属二维码加了店主企业微信，欢迎语已发出。"
SIM_WECOM_CONFIRMED = "店主在企业微信点了“发送”：{count} 条群发任务已发出。"
SIM_WECOM_BUTTON_MODE = "开启企业微信模式"
SIM_WECOM_BUTTON_ADD = "加店主企业微信"
SIM_WECOM_BUTTON_CONFIRM = "一键发送"
SIM_WECOM_TASKS_TITLE = "企业微信 · 待确认群发"
SIM_WECOM_NO_TASKS = "没有等待确认的群发任务。"
SIM_WECOM_TASK_LINE = "{customers} 位客户：{text}"
# The consent link (SUBSCRIBE_OFFER) as a button in the simulator's phone (handlers/simulator/consent.py).
SIM_SUBSCRIBE_BUTTON = "🔔 开启提醒（模拟订阅弹窗：允许）"
DEMO_ORDER_NOTE = "演示数据"

# --- WeCom (企业微信) customer contact (bot/wecom_events.py, bot/delivery/wecom_channel.py) ---
# The welcome a customer gets right after adding the seller on WeCom (send_welcome_msg).
WECOM_WELCOME = "您好，我是店主😊 以后上新、补货和售后都可以直接在这里找我，有需要随时说～"
# What stands for the customer's name in a WeCom mass message (one text is shared by many customers).
WECOM_NAME_PLACEHOLDER = "亲"
# A member who is not in HUITOU_SELLER_WECOM_USERIDS chats with the app.
WECOM_NOT_A_SELLER = "这个应用只给店主使用。如需开通，请让管理员把你的账号加入 HUITOU_SELLER_WECOM_USERIDS。"
WECOM_NON_TEXT = "收到～店主命令请直接发文字，发“帮助”看全部命令。"
SELLER_WECOM_TASKS_WAITING = (
    "📣 有 {tasks} 条群发任务（共 {customers} 位客户）等你确认：打开企业微信 → 客户联系 → "
    "群发助手，点“发送”即可。{days} 天内不确认会转为手动草稿。"
)
SELLER_WECOM_CONTACT_GONE = "⚠️ 客户 {customer}（#{customer_id}）已在企业微信{how}，之后的消息会改走其他渠道。"
SELLER_WECOM_GONE_BY_CUSTOMER = "删除了你"
SELLER_WECOM_GONE_BY_MEMBER = "被你删除"
SELLER_WECOM_NEW_CONTACT = "🆕 {customer}（#{customer_id}）在企业微信加了你（{how}）。"
SELLER_WECOM_LINKED_BY = {
    "state": "通过专属二维码，已对上客户档案",
    "unionid": "已按微信身份对上客户档案",
    "phone": "已按备注手机号对上客户档案",
    "known": "老联系人",
    "new": "新客户，已建档",
}

# --- subscription notices (订阅通知): handlers/subscribe.py, bot/subscribe_links.py, ---------------
# --- bot/delivery/subscribe_message.py -----------------------------------------------------------

# Appended to the order confirmation and the shipping notice when HUITOU_DELIVERY_SUBSCRIBE_TEMPLATES is set.
SUBSCRIBE_OFFER = "🔔用完前提醒我 / 到货提醒：{url}"
SUBSCRIBE_PAGE_TITLE = "开启提醒"
SUBSCRIBE_PAGE_INTRO = (
    "{name}，点下面的按钮并选择“允许”，到货、快用完的时候我会在微信里提醒您，每次提醒只发一条，不打扰～"
)
SUBSCRIBE_PAGE_BUTTON = "开启提醒"
SUBSCRIBE_PAGE_ACCEPTED = "已开启✅ 到时候我会提醒您。"
SUBSCRIBE_PAGE_REJECTED = "没关系，想开启时再点一次就行。"
SUBSCRIBE_PAGE_NOT_IN_WECHAT = "请在微信里打开这个页面。"
SUBSCRIBE_PAGE_UNAVAILABLE = "提醒功能暂时不可用，请稍后再试，或直接在聊天里告诉我～"
SUBSCRIBE_PAGE_NOT_FOUND = "这个链接无效，请回到聊天里重新打开～"
SUBSCRIBE_PAGE_HOLDING = "您已开启 {count} 次提醒。"
# A template field never goes out empty (the platform refuses empty values).
SUBSCRIBE_EMPTY_VALUE = "无"
# Fields when a HUITOU_DELIVERY_SUBSCRIBE_TEMPLATES entry has none (keys follow the template's own).
SUBSCRIBE_DEFAULT_FIELDS = {
    "repurchase": {"thing1": "{products}", "thing2": "快用完啦，回复“再来一份”即可续上"},
    "ship": {"character_string1": "{tracking_no}", "thing2": "{items}"},
}

# --- seller notices that wait for the seller's next message (bot/seller/waiting.py) -------------------

SELLER_WAITING_HEADER = "📌 您不在时的通知（{count} 条）："
SELLER_WAITING_MORE = "……还有 {count} 条，马上发给您。"
SELLER_WAITING_EMPTY = "没有积压的通知👌"
