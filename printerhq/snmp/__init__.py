"""SNMP for printerhq: a sans-IO codec (``ber``, ``message``) and a trio client (``client``)."""

from .ber import SnmpDecodeError, Tag, format_oid, parse_oid
from .message import (
    Message,
    Pdu,
    PduType,
    RequestTemplate,
    Varbind,
    Version,
    decode_message,
    encode_message,
)

__all__ = [
    "Message",
    "Pdu",
    "PduType",
    "RequestTemplate",
    "SnmpDecodeError",
    "Tag",
    "Varbind",
    "Version",
    "decode_message",
    "encode_message",
    "format_oid",
    "parse_oid",
]
