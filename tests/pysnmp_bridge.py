"""pysnmp as the reference codec: our messages to and from pysnmp's own objects.

The differential tests (tests/test_codec_differential.py) and the benchmarks that compare CPU with
the pysnmp path (benchmarks/bench_codec.py, benchmarks/bench_collect.py) share these conversions,
so both measure against the same thing. Every field goes through pysnmp's protocol API
(``apiMessage``, ``apiPDU``, ``apiBulkPDU``), never through our codec.
"""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version

__all__ = ["from_pysnmp", "pysnmp_decode", "pysnmp_encode", "pysnmp_module", "to_pysnmp"]

_PYSNMP_VERSION = {Version.V1: api.SNMP_VERSION_1, Version.V2C: api.SNMP_VERSION_2C}


def pysnmp_module(version: Version) -> Any:
    return api.PROTOCOL_MODULES[_PYSNMP_VERSION[version]]


def _value_classes(version: Version) -> dict[int, Any]:
    p = pysnmp_module(version)
    if version == Version.V1:
        # RFC 1155 names: Counter and Gauge, no Counter64, no exceptions.
        return {
            Tag.INTEGER: p.Integer,
            Tag.OCTET_STRING: p.OctetString,
            Tag.NULL: p.Null,
            Tag.OBJECT_IDENTIFIER: p.ObjectIdentifier,
            Tag.IP_ADDRESS: p.IpAddress,
            Tag.COUNTER32: p.Counter,
            Tag.GAUGE32: p.Gauge,
            Tag.TIMETICKS: p.TimeTicks,
            Tag.OPAQUE: p.Opaque,
        }
    return {
        Tag.INTEGER: p.Integer,
        Tag.OCTET_STRING: p.OctetString,
        Tag.NULL: p.Null,
        Tag.OBJECT_IDENTIFIER: p.ObjectIdentifier,
        Tag.IP_ADDRESS: p.IpAddress,
        Tag.COUNTER32: p.Counter32,
        Tag.GAUGE32: p.Gauge32,
        Tag.TIMETICKS: p.TimeTicks,
        Tag.OPAQUE: p.Opaque,
        Tag.COUNTER64: p.Counter64,
        Tag.NO_SUCH_OBJECT: p.NoSuchObject,
        Tag.NO_SUCH_INSTANCE: p.NoSuchInstance,
        Tag.END_OF_MIB_VIEW: p.EndOfMibView,
    }


_PDU_CLASS_NAMES = {
    PduType.GET: "GetRequestPDU",
    PduType.GET_NEXT: "GetNextRequestPDU",
    PduType.RESPONSE: "GetResponsePDU",
    PduType.SET: "SetRequestPDU",
    PduType.GET_BULK: "GetBulkRequestPDU",
    PduType.INFORM: "InformRequestPDU",
    PduType.TRAP_V2: "SNMPv2TrapPDU",
    PduType.REPORT: "ReportPDU",
}


# ---------------------------------------------------------------------------------------------
# Our model <-> pysnmp objects, field by field through pysnmp's protocol API


def to_pysnmp(message: Message) -> Any:
    """Build the same message with pysnmp's own API (pMod.apiMessage / apiPDU)."""
    p = pysnmp_module(message.version)
    pdu = getattr(p, _PDU_CLASS_NAMES[message.pdu.type])()
    classes = _value_classes(message.version)
    if message.pdu.type == PduType.GET_BULK:
        p.apiBulkPDU.set_defaults(pdu)
        p.apiBulkPDU.set_non_repeaters(pdu, message.pdu.non_repeaters)
        p.apiBulkPDU.set_max_repetitions(pdu, message.pdu.max_repetitions)
        api_pdu = p.apiBulkPDU
    else:
        p.apiPDU.set_defaults(pdu)
        p.apiPDU.set_error_status(pdu, message.pdu.error_status)
        p.apiPDU.set_error_index(pdu, message.pdu.error_index)
        api_pdu = p.apiPDU
    api_pdu.set_request_id(pdu, message.pdu.request_id)
    bindings = []
    for varbind in message.pdu.varbinds:
        cls = classes[varbind.tag]
        value = cls("") if varbind.value is None else cls(varbind.value)
        bindings.append((p.ObjectIdentifier(varbind.oid), value))
    api_pdu.set_varbinds(pdu, bindings)
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, message.community)
    p.apiMessage.set_pdu(msg, pdu)
    return msg


def _tag_of(value: Any) -> int:
    tag = value.tagSet[-1]  # the outermost tag is what goes on the wire
    return tag.tagClass | tag.tagFormat | tag.tagId


def _python_value(tag: int, value: Any) -> Any:
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE, Tag.IP_ADDRESS):
        return bytes(value.asOctets())
    if tag == Tag.OBJECT_IDENTIFIER:
        return tuple(value)
    if tag in (Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
        return None
    return int(value)


def from_pysnmp(msg: Any, version: Version) -> Message:
    """Read every field of a pysnmp message back into our model."""
    p = pysnmp_module(version)
    pdu = p.apiMessage.get_pdu(msg)
    pdu_type = PduType(_tag_of(pdu))
    # The three INTEGER fields by position: pysnmp's getters add semantic checks (error-index
    # within the varbind list) that belong to an agent, not to a codec.
    request_id, status, index = (int(pdu.getComponentByPosition(i)) for i in range(3))
    api_pdu = p.apiBulkPDU if pdu_type == PduType.GET_BULK else p.apiPDU
    bindings = []
    for oid, value in api_pdu.get_varbinds(pdu):
        tag = _tag_of(value)
        bindings.append(Varbind(tuple(oid), tag, _python_value(tag, value)))
    return Message(
        Version(int(p.apiMessage.get_version(msg))),
        bytes(p.apiMessage.get_community(msg).asOctets()),
        Pdu(pdu_type, request_id, status, index, bindings),
    )


def pysnmp_decode(data: bytes, version: Version) -> Message:
    msg, rest = decoder.decode(data, asn1Spec=pysnmp_module(version).Message())
    if rest:
        raise ValueError(f"pysnmp left {len(rest)} bytes undecoded")
    return from_pysnmp(msg, version)


def pysnmp_encode(message: Message) -> bytes:
    return encoder.encode(to_pysnmp(message))
