"""Free-text order parsing: products (catalogue names and aliases, fuzzy), quantities, phone,
recipient name and postal address, from one customer message.

Pure functions over plain data: the caller passes the catalogue as ``CatalogueEntry`` rows.
Pieces are found in a fixed order, each masked out of the text once found (keeping positions,
so quantities can be paired with the product next to them): phone → labelled name → exact
product names → address → quantities → fuzzy product names → unlabelled name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from bot.normalize import normalize
from storage.contact import AddressParts, find_phone, split_address
from storage.models import split_aliases

MASK = "#"
FUZZY_THRESHOLD = 75

UNITS = "盒|瓶|支|套|片|个|袋|罐|件|份|箱|包|只|管|条|组|贴|提|对|双|本|斤|块|粒|颗|桶|张"
CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "贰": 2,
    "三": 3,
    "叁": 3,
    "仨": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100}
_CN_NUM = "[零〇一壹二两俩贰三叁仨四肆五伍六陆七柒八捌九玖十拾百佰]+"
QUANTITY_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"(?P<num>\d{{1,3}}|{_CN_NUM})\s*(?P<unit>{UNITS})(?!月|小时|天|周|星期|钟|人|号|栋|楼)"),
    # "两和" / "三合": a slip for 盒, at the end of a phrase only ("两和精华" stays "two and essence").
    re.compile(rf"(?P<num>\d{{1,3}}|{_CN_NUM})\s*(?P<unit>和|合)(?=$|[\s,，。.!！~～吧啊呀哈])"),
    re.compile(r"[x×*]\s*(?P<num>\d{1,3})(?!\d)", re.I),
    re.compile(r"(?<![\d.])(?P<num>\d{1,3})\s*[x×*](?![\d])", re.I),
    # "面膜 2": a bare number right after a product (products are masked with MASK by then).
    re.compile(r"(?<=#)\s?(?P<num>\d{1,2})(?![\d.]|\s*(?:号|栋|幢|楼|室|单元|元|块|岁|天|月))"),
)
UNIT_SLIPS = {"和": "盒", "合": "盒"}
# Words after a quantity that are not a product ("先来一盒试试").
NOT_A_PRODUCT = re.compile(r"^(?:试试|试一下|试用|看看|尝尝|就行|就好|就够|好了|先|谢谢|够了|给我|寄|发)")
SLIP_MIN_TERM = 3  # a one-character slip is recognised in product names of at least this length

# Words that label a piece of contact data; removed before looking for the pieces themselves.
NAME_LABEL = re.compile(
    r"(?:收件人|收货人|姓名|名字|联系人|我叫|我是|寄给)\s*[:：]?\s*(?:是|为|叫|写)?\s*[:：]?\s*([\u4e00-\u9fa5·]{2,5}?)"
    r"(?=$|[^\u4e00-\u9fa5·]|电话|手机|地址|收货|寄|收|联系|的|,|，)"
)
NAME_SUFFIX = re.compile(r"(?:^|[^\u4e00-\u9fa5])([\u4e00-\u9fa5]{2,4})收(?:$|[^\u4e00-\u9fa5货到])")
LABELS = re.compile(
    r"详细地址|所在地区|所在地|收货地址|地址|收件人|收货人|联系电话|电话号码|手机号码|电话|手机号|手机|联系方式|tel|姓名|名字|邮寄到|寄到|发到|送到|寄往"
)
ADDRESS_WORDS = re.compile(
    r"\d|路|街|道|号|巷|弄|村|镇|乡|栋|幢|楼|室|单元|小区|大厦|花园|苑|院|组|座|层|期|公寓|广场|中心|园|里|屯|社区|门|厂|学校|大学|医院|公司"
)
# Words that are never part of a product or a name; removed before fuzzy matching.
STOPWORDS = re.compile(
    r"我要|我想|想要|帮我|给我|麻烦|请|谢谢|一下|下单|购买|订购|还有|以及|和|跟|加|再|还|要|买|来|拍|订|的|了|吧|呢|啊|呀|哦|哈|嗯|吗|个|亲|老板|您好|你好|好的|可以|收到|寄|发|到"
)
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏"
    "韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰"
    "焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
NOT_NAMES = {
    "马上",
    "方便",
    "安全",
    "高兴",
    "明天",
    "周末",
    "万一",
    "常用",
    "白色",
    "金额",
    "黄色",
    "江湖",
    "时候",
    "时间",
    "全部",
    "全套",
    "包邮",
    "包装",
    "单号",
    "关注",
    "应该",
    "项目",
    "成分",
    "华为",
    "车上",
    "宁愿",
    "余额",
    "毕业",
    "程度",
    "温和",
    "康复",
    "文字",
    "师傅",
    "和你",
    "向你",
    "于是",
    "管用",
    "简单",
    "路上",
    "游戏",
    "卫生",
    "朱红",
    "钱包",
    "钟头",
    "米色",
    "商品",
    "沙发",
    "明白",
    "解决",
    "齐全",
    "有人",
}


@dataclass(frozen=True)
class CatalogueEntry:
    """A product as the parser sees it (built from ``storage.models.Product``)."""

    product_id: int
    name: str
    aliases: tuple[str, ...] = ()
    price_cents: int = 0
    usage_days: int | None = None

    @property
    def id(self) -> int:
        """The product's id (so an entry can stand for its product in ``storage.orders.ItemSpec``)."""
        return self.product_id

    @functools.cached_property
    def terms(self) -> tuple[str, ...]:
        """The normalised name and aliases (computed once per entry: entries are cached per process)."""
        return tuple(dict.fromkeys(t for t in (normalize(self.name), *map(normalize, self.aliases)) if t))

    @classmethod
    def from_product(cls, product) -> CatalogueEntry:
        return cls(
            product.id, product.name, tuple(product.alias_list), product.price_cents, product.usage_days
        )

    @classmethod
    def from_row(
        cls, product_id: int, name: str, aliases: str | None, price_cents: int, usage_days: int | None
    ) -> CatalogueEntry:
        """From the product table's columns (``aliases`` is the comma-separated column)."""
        return cls(product_id, name, tuple(split_aliases(aliases)), price_cents, usage_days)


@dataclass(frozen=True)
class Quantity:
    value: int
    unit: str | None
    start: int
    end: int


@dataclass(frozen=True)
class ParsedItem:
    product: CatalogueEntry
    quantity: int
    explicit_quantity: bool = True


@dataclass(frozen=True)
class Ambiguity:
    """A product word that fits several catalogue products (e.g. "眼霜" for two eye creams)."""

    word: str
    candidates: tuple[CatalogueEntry, ...]
    quantity: int = 1


@dataclass
class ParsedOrder:
    items: list[ParsedItem] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)
    unknown_product: str | None = None
    quantities: list[Quantity] = field(default_factory=list)
    phone: str | None = None
    name: str | None = None
    address: AddressParts | None = None

    @property
    def has_contact(self) -> bool:
        return bool(self.phone or self.name or self.address)


def chinese_number(text: str) -> int | None:
    """'两' → 2, '十' → 10, '十二' → 12, '二十五' → 25, '一百' → 100, '12' → 12; None if unreadable."""
    if text.isdigit():
        return int(text)
    total, current = 0, None
    for ch in text:
        if ch in CN_DIGITS:
            current = CN_DIGITS[ch] if current is None else current * 10 + CN_DIGITS[ch]
        elif ch in CN_UNITS:
            total += (current if current is not None else 1) * CN_UNITS[ch]
            current = None
        else:
            return None
    return total + (current or 0)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + MASK * (end - start) + text[end:]


def _find_quantities(text: str) -> list[Quantity]:
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for pattern in QUANTITY_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            value = chinese_number(m.group("num"))
            if value is None or not 0 < value <= 999:
                continue
            unit = m.groupdict().get("unit")
            unit = UNIT_SLIPS.get(unit, unit)
            found.append(Quantity(value, unit, m.start(), m.end()))
            taken.append((m.start(), m.end()))
    return sorted(found, key=lambda q: q.start)


def _exact_product_hits(
    text: str, catalogue: Sequence[CatalogueEntry]
) -> list[tuple[int, int, tuple[CatalogueEntry, ...]]]:
    """Non-overlapping spans naming catalogue products, longest terms first; a span may fit several."""
    spans: dict[tuple[int, int], list[CatalogueEntry]] = {}
    for entry in catalogue:
        for term in entry.terms:
            for m in re.finditer(re.escape(term), text, re.I):
                spans.setdefault((m.start(), m.end()), [])
                if entry not in spans[(m.start(), m.end())]:
                    spans[(m.start(), m.end())].append(entry)
    chosen: list[tuple[int, int, tuple[CatalogueEntry, ...]]] = []
    for (start, end), entries in sorted(spans.items(), key=lambda kv: (-(kv[0][1] - kv[0][0]), kv[0][0])):
        if any(start < e and s < end for s, e, _ in chosen):
            continue
        chosen.append((start, end, tuple(entries)))
    return sorted(chosen, key=lambda hit: hit[0])


def _fuzzy_product_hits(
    text: str, catalogue: Sequence[CatalogueEntry]
) -> list[tuple[int, int, tuple[CatalogueEntry, ...]]]:
    """Product words with typos or shortened names: each leftover word scored against every term."""
    if not catalogue:
        return []
    cleaned = STOPWORDS.sub(lambda m: " " * len(m.group()), text)
    hits = []
    for m in re.finditer(r"[\u4e00-\u9fa5A-Za-z]{2,12}", cleaned):
        word = m.group()
        scores: dict[CatalogueEntry, float] = {}
        for entry in catalogue:
            best = 0.0
            for term in entry.terms:
                if len(word) * 2 < len(term):
                    continue  # a fragment too short to stand for this term
                best = max(
                    best, fuzz.partial_ratio(word, term) if len(word) <= len(term) else fuzz.ratio(word, term)
                )
            scores[entry] = best
        top = max(scores.values())
        if top < FUZZY_THRESHOLD:
            continue
        winners = tuple(e for e, s in scores.items() if s == top)
        hits.append((m.start(), m.end(), winners))
    return hits


def _slip_hits(
    text: str, catalogue: Sequence[CatalogueEntry]
) -> list[tuple[int, int, tuple[CatalogueEntry, ...]]]:
    """One mistyped character in a product name of three or more ("洗法水" for 洗发水), found in the
    words left over; only when exactly one product fits that way."""
    cleaned = STOPWORDS.sub(lambda m: " " * len(m.group()), text)
    hits = []
    for m in re.finditer(r"[\u4e00-\u9fa5]{3,12}", cleaned):
        word = m.group()
        found: dict[tuple[int, int], set[CatalogueEntry]] = {}
        for entry in catalogue:
            for term in entry.terms:
                if len(term) < SLIP_MIN_TERM or len(term) > len(word):
                    continue
                for i in range(len(word) - len(term) + 1):
                    window = word[i : i + len(term)]
                    if sum(a != b for a, b in zip(window, term, strict=True)) == 1 and window[0] == term[0]:
                        found.setdefault((m.start() + i, m.start() + i + len(term)), set()).add(entry)
        fitting = {e for entries in found.values() for e in entries}
        if len(fitting) == 1:
            (start, end), entries = min(found.items(), key=lambda kv: kv[0][0])
            hits.append((start, end, tuple(entries)))
    return hits


def _find_address(text: str) -> tuple[AddressParts | None, tuple[int, int] | None]:
    """The address in ``text`` (cpca) and the span it covers, so the rest can be read separately."""
    probe = LABELS.sub(lambda m: " " * len(m.group()), text).replace(MASK, " ")
    parts = split_address(probe)
    if parts is None:
        return None, None
    region_names = [n for n in (parts.province, parts.city, parts.district) if n]
    occurrences = []
    for name in region_names:
        for variant in {
            name,
            name[:2],
            re.sub(r"(?:省|市|自治区|维吾尔|壮族|回族|特别行政区|区|县)$", "", name),
        }:
            if len(variant) >= 2:
                for m in re.finditer(re.escape(variant), probe):
                    occurrences.append((m.start(), m.end()))
    if not occurrences:
        return None, None
    start = min(s for s, _ in occurrences)
    end = max(e for s, e in occurrences if s - start < 24)
    detail = None
    if parts.detail:
        # The detail starts where cpca's region ends ("天河区天河路…": not after the second 天河).
        first_chunk = re.split(r"[\s,，;；:：。!！?？]+", parts.detail.strip())[0]
        pos = probe.find(first_chunk, start) if first_chunk else -1
        if pos >= 0:
            end = pos
        # cpca puts everything after the region into the detail; keep only address-like chunks.
        chunks = [c for c in re.split(r"[\s,，;；:：。!！?？]+", probe[end:]) if c]
        kept: list[str] = []
        for i, chunk in enumerate(chunks):
            if not ADDRESS_WORDS.search(chunk) or (i > 0 and not re.search(r"\d|栋|幢|楼|室|单元|号", chunk)):
                break
            kept.append(chunk)
        if kept:
            last = kept[-1]
            pos = probe.find(last, end)
            end = pos + len(last)
            detail = "".join(kept)
    parts = AddressParts(parts.province, parts.city, parts.district, detail)
    return parts, (start, end)


NAME_BREAKS = re.compile(
    r"谢谢|电话|手机|地址|发货|快递|订单|麻烦|尽快|安排|辛苦|老板|一起|快点|早点|申通|邮政|顺丰|我要|要|买|寄|收|的|了|吧|呢|啊|呀|哦|哈|嗯"
)


STANDALONE_NAME = re.compile(r"(?:^|[\s,，;；])([\u4e00-\u9fa5]{2,3})(?=$|[\s,，;；])")
KIN_WORDS = re.compile(r"^(?:我|你|他|她|咱)|妈|爸|朋友|闺蜜|老公|老婆|同事|家里|公司")


def _plausible_name(word: str) -> bool:
    return not KIN_WORDS.search(word) and not any(word.startswith(w) for w in NOT_NAMES)


def _find_unlabelled_name(text: str) -> tuple[str | None, tuple[int, int] | None]:
    cleaned = NAME_BREAKS.sub(lambda m: " " * len(m.group()), text)
    for m in re.finditer(r"(?<![\u4e00-\u9fa5·])[\u4e00-\u9fa5·]{2,4}(?![\u4e00-\u9fa5·])", cleaned):
        word = m.group()
        if word[0] in SURNAMES and not any(word.startswith(w) for w in NOT_NAMES) and not LABELS.search(word):
            return word, (m.start(), m.end())
    return None, None


def parse_order(
    text: str, catalogue: Sequence[CatalogueEntry] = (), *, normalized_already: bool = False
) -> ParsedOrder:
    """Read products, quantities and contact data from one message (see the module docstring)."""
    work = text if normalized_already else normalize(text)
    result = ParsedOrder()
    result.phone, work = find_phone(work)
    base = work  # every later step masks in place, so positions in ``work`` are positions in ``base``

    labelled = next((m for m in NAME_LABEL.finditer(work) if _plausible_name(m.group(1))), None)
    if labelled:
        result.name = labelled.group(1)
        work = _mask(work, labelled.start(), labelled.end())
    suffixed = None if result.name else NAME_SUFFIX.search(work)
    if suffixed:
        result.name = suffixed.group(1)
        work = _mask(work, suffixed.start(1), suffixed.end(1) + 1)

    hits = _exact_product_hits(work, catalogue)
    for start, end, _entries in hits:
        work = _mask(work, start, end)

    result.address, span = _find_address(work)
    if span:
        work = _mask(work, *span)

    result.quantities = _find_quantities(work)
    for q in result.quantities:
        work = _mask(work, q.start, q.end)

    fuzzy = _fuzzy_product_hits(work, catalogue)
    for start, end, _entries in fuzzy:
        work = _mask(work, start, end)
    slips = _slip_hits(work, catalogue)
    for start, end, _entries in slips:
        work = _mask(work, start, end)
    fuzzy += slips
    hits = sorted(hits + fuzzy, key=lambda hit: hit[0])

    if not result.name and (result.phone or result.address):
        result.name, name_span = _find_unlabelled_name(work)
        if name_span:
            work = _mask(work, *name_span)
    elif not result.name and hits:
        # "面膜两盒 李四": a name standing on its own next to the product.
        alone = STANDALONE_NAME.search(work)
        if (
            alone
            and alone.group(1)[0] in SURNAMES
            and _plausible_name(alone.group(1))
            and not NAME_BREAKS.search(alone.group(1))
        ):
            result.name = alone.group(1)
            work = _mask(work, alone.start(1), alone.end(1))

    _pair_items(result, hits, base)
    return result


def _pair_items(result: ParsedOrder, hits, base: str) -> None:
    """Give each product the nearest unclaimed quantity (before it, else after it), default 1."""
    claimed: set[int] = set()
    quantities = result.quantities
    merged: dict[int, ParsedItem] = {}
    for start, end, entries in hits:
        best, best_gap = None, None
        for i, q in enumerate(quantities):
            if i in claimed:
                continue
            if q.end <= start and start - q.end <= 3:
                gap = start - q.end
            elif q.start >= end and q.start - end <= 3:
                gap = q.start - end + 0.5  # at equal distance, the quantity before the product wins
            else:
                continue
            if best_gap is None or gap < best_gap:
                best, best_gap = i, gap
        if best is None and len(hits) == 1 and len(quantities) == 1:
            best = 0
        quantity = quantities[best].value if best is not None else 1
        if best is not None:
            claimed.add(best)
        if len(entries) > 1:
            result.ambiguous.append(Ambiguity(base[start:end], entries, quantity))
            continue
        entry = entries[0]
        if entry.product_id in merged:
            previous = merged[entry.product_id]
            merged[entry.product_id] = ParsedItem(entry, previous.quantity + quantity, True)
        else:
            merged[entry.product_id] = ParsedItem(entry, quantity, best is not None)
    result.items = list(merged.values())
    leftover = [q for i, q in enumerate(quantities) if i not in claimed and q.unit]
    if leftover and not hits:
        after = re.match(r"\s*([\u4e00-\u9fa5A-Za-z]{2,8})", base[leftover[0].end :])
        if after and not STOPWORDS.fullmatch(after.group(1)) and not NOT_A_PRODUCT.match(after.group(1)):
            result.unknown_product = after.group(1)


def choose_candidate(text: str, candidates: Iterable[CatalogueEntry]) -> CatalogueEntry | None:
    """The customer's pick among ``candidates``: "1", "第二个", or (part of) a product's name."""
    options = list(candidates)
    norm = normalize(text)
    number = re.search(rf"(\d+|{_CN_NUM})", norm)
    if number and len(norm) <= 6:
        index = chinese_number(number.group(1))
        if index and 1 <= index <= len(options):
            return options[index - 1]
    named = [e for e in options if any(t in norm for t in e.terms)]
    if len(named) == 1:
        return named[0]
    scores = [(max(fuzz.partial_ratio(norm, t) for t in e.terms), e) for e in options]
    scores.sort(key=lambda s: -s[0])
    if scores and scores[0][0] >= FUZZY_THRESHOLD and (len(scores) == 1 or scores[1][0] < scores[0][0]):
        return scores[0][1]
    return None
