"""The shape a platform message must have before wechatpy reads it.

wechatpy turns any XML into a message (xmltodict underneath): an element nested in ``Content``
becomes a dict, a repeated ``FromUserName`` a list, ``MsgId`` "abc" raises only when read. So the
body is first walked once with expat and refused (400) unless it is what the platform sends: an
``<xml>`` root, no DTD, entities, processing instructions, attributes or namespaces, each field
once, the fields Huitou reads as text without child elements, digits where the platform sends
digits, an openid-shaped sender, and a bounded depth and element count (the deepest platform
message, a mass-send report, is five levels deep).
"""

from __future__ import annotations

import re
from xml.parsers import expat

MAX_DEPTH = 8
MAX_ELEMENTS = 500

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # no ':' (namespaces, xi:include), no dots or dashes
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_WORD = re.compile(r"[A-Za-z_]{1,40}\Z")
_DIGITS = re.compile(r"[0-9]{1,20}\Z")

# Fields Huitou or wechatpy read as plain text: they must not contain elements.
TEXT_FIELDS = frozenset(
    {
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "MsgId",
        "MsgID",
        "Content",
        "Event",
        "EventKey",
        "Ticket",
        "MediaId",
        "PicUrl",
        "Format",
        "Recognition",
        "ThumbMediaId",
        "Location_X",
        "Location_Y",
        "Scale",
        "Label",
        "Title",
        "Description",
        "Url",
        "Latitude",
        "Longitude",
        "Precision",
        "Status",
        "MenuId",
        "Encrypt",
    }
)
# Field → the form of its text (checked when the field is present).
_FORMS = {
    "FromUserName": _OPENID,
    "MsgType": _WORD,
    "Event": _WORD,
    "CreateTime": _DIGITS,
    "MsgId": _DIGITS,
    "MsgID": _DIGITS,
}
REQUIRED_FIELDS = ("FromUserName", "MsgType", "CreateTime")


class UnsafeXml(ValueError):
    """The body is not shaped like a platform message (the reason names no field value)."""


def check_envelope(body: bytes | str) -> None:
    """The structure alone (safe-mode envelopes, whose fields are checked once decrypted)."""
    _walk(body)


def check_message(xml: bytes | str) -> None:
    """The structure and the fields of a (decrypted) message."""
    fields = _walk(xml)
    for name in REQUIRED_FIELDS:
        if not fields.get(name):
            raise UnsafeXml(f"{name} missing")
    for name, form in _FORMS.items():
        value = fields.get(name)
        if value is not None and not form.match(value.strip()):
            raise UnsafeXml(f"{name} is not of the expected form")


def _walk(xml: bytes | str) -> dict[str, str]:
    """Walk the document once; returns the text of each top-level field."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    elements = 0
    fields: dict[str, str] = {}
    current: list[str] = []  # the top-level field being read (its text parts)
    stack: list[str] = []

    def refuse(*_args: object) -> None:
        raise UnsafeXml("DTD, entity or processing instruction")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, elements, current
        depth += 1
        elements += 1
        if depth > MAX_DEPTH or elements > MAX_ELEMENTS:
            raise UnsafeXml("too deep or too many elements")
        if attrs or not _NAME.match(name):
            raise UnsafeXml("attributes or namespaced element")
        if depth == 1 and name != "xml":
            raise UnsafeXml("root is not <xml>")
        if depth == 2:
            if name in fields:
                raise UnsafeXml("repeated field")
            fields[name] = ""
            current = []
        elif depth >= 3 and stack[1] in TEXT_FIELDS:
            raise UnsafeXml("element inside a text field")
        stack.append(name)

    def end(name: str) -> None:
        nonlocal depth
        if depth == 2:
            fields[name] = "".join(current)
        depth -= 1
        stack.pop()

    def characters(data: str) -> None:
        if depth == 2:
            current.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.ProcessingInstructionHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise UnsafeXml(f"unreadable XML: {expat.ErrorString(exc.code)}") from None
    return fields
