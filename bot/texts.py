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
