"""Every Chinese text a customer or seller reads, named by purpose.

Texts are ``str.format`` templates. Keep them short: they are read on a phone.
Sections are grouped by the part of the product that sends them.
"""

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
ORDER_UPDATED = "已更新订单 #{order_id}✅\n商品：{items}\n合计：{total}\n收件人：{name}\n电话：{phone}\n地址：{address}"
ORDER_NEEDS_MORE = "收到，已记下订单 #{order_id}：{items}，合计 {total}。\n还差{missing}，请直接发给我～"
ORDER_DRAFT_NEEDS_PRODUCT = "好的～请问您想要哪款商品、几件呢？\n目前有：{catalogue}"
ORDER_UNKNOWN_PRODUCT = "抱歉，没找到“{word}”这款商品🙏\n目前有：{catalogue}\n请告诉我您要哪款～"
ORDER_CHOOSE_PRODUCT = "“{word}”有几款，您要哪一款？回复序号就行：\n{options}"
ORDER_MISSING_LABELS = {"name": "收件人姓名", "phone": "手机号", "address": "详细收货地址（省市区+街道门牌）"}
ORDER_MISSING_JOINER = "、"
ORDER_CANCELLED = "好的，订单 #{order_id} 已取消。有需要随时找我～"
ORDER_NOTHING_TO_CANCEL = "好的，已取消～有需要随时找我。"
ORDER_ACKNOWLEDGED = "好的👌 订单 #{order_id} 已记下，店主确认后会尽快安排～"
ORDER_NOTE_FROM_PROFILE = "收件信息取自客户资料"  # stored on the order: the seller sees it
ORDER_FROM_PROFILE_NOTE = "（收件信息用的是您上次留的，如需更改直接发新的给我）"
CONTACT_CONFLICT = "您这次留的{label}（{new}）和之前资料里的（{old}）不一样，本单按这次的发。以后也都用新的吗？回复“更新”或“不用”。"
CONTACT_CONFLICT_LABELS = {"phone": "电话", "address": "地址", "name": "姓名"}
CONTACT_UPDATED = "好的，资料已更新为新的✅"
CONTACT_KEPT = "好的，资料保持原来的不变👌"

INQUIRY_PRICE = "{product}：{price}/件。想要的话直接发“数量+姓名电话地址”就能下单～"
INQUIRY_PRICE_LIST = "目前的价格：\n{catalogue}\n想要哪款直接告诉我～"
INQUIRY_USAGE = "{product}一件大约能用 {days} 天。具体用法店主会再跟您细说，也可以随时问我～"
INQUIRY_HOW_TO_ORDER = "直接发给我“商品+数量+收件人+电话+地址”就能下单，比如：\n“要两盒面膜，张三 13800138000，广东省深圳市南山区科技园路1号”"
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

SELLER_NEW_ORDER = "🛒 新订单 #{order_id}（{customer}）\n{items}\n合计 {total}\n{name} {phone}\n{address}{missing}"
SELLER_NEW_ORDER_MISSING = "\n⚠️ 还缺：{missing}"
SELLER_COMPLAINT = "⚠️ 售后问题（{customer}）#{complaint_id}：{text}{order}"
SELLER_COMPLAINT_ORDER = "\n相关订单 #{order_id}"
SELLER_INQUIRY = "❓ 待回复咨询 #{inquiry_id}（{customer}）{product}：{text}"

# --- Referral program (bot/referrals.py, bot/seller/referrals.py) ------------------------------

# The three moments. Placeholders: {code} the customer's code, {offer} REFERRAL_OFFER, {qr} the QR line
# (empty when there is none). The seller may replace each in config (HUITOU_REFERRAL_ASK_*_TEXT).
REFERRAL_ASK_ORDER = "🎁 好东西一起分享：把推荐码 {code} 发给好友，好友关注后发“推荐码 {code}”给我，{offer}。{qr}"
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
REFERRAL_NOT_NEW = "推荐码仅限第一次购买的新朋友使用哦～您也可以把自己的推荐码 {code} 分享给好友，好友首单付款后您有奖励🎁"
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
