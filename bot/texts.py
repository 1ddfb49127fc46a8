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

# --- retention ---
# Product-cycle messages ({name}: customer, {products}: the order's products, {offer}: RETENTION_OFFER).
RETENTION_EXPERIENCE = "{name}您好～{products}应该已经收到啦📦 用之前先看看说明，开封后注意密封保存。用着有任何问题随时问我哦～"
RETENTION_CARE = "{name}，{products}用了一段时间了，感觉怎么样？有什么疑问或小心得都可以跟我说说😊"
RETENTION_REPURCHASE = "{name}，算算日子，您的{products}快用完啦～需要续上的话直接回复“再来一份{products}”，我按上次的地址给您安排📦"
RETENTION_LAPSE = "{name}，{products}应该已经用完一阵子了吧？回来续购送您一份老客心意：{offer}，回复“再来一份{products}”就行🌸"
RETENTION_INQUIRY_FOLLOWUP = "{name}您好，之前您问的{product}还有什么想了解的吗？想要的话直接发“数量+姓名电话地址”就能下单～"
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
RFM_SEGMENT_LABELS = {
    "champions": "重要价值客户", "loyal": "忠诚客户", "potential_loyalists": "潜力客户", "new": "新客户",
    "at_risk": "重要挽留客户", "cant_lose": "不能流失的客户", "hibernating": "沉睡客户", "lost": "流失客户",
}
