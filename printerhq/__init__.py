"""printerhq: printer-fleet data collector and central server, on trio.

The names below are the public API: what an application embeds (docs/engine.md, "Public API").
They are imported on first use, so ``import printerhq`` stays cheap and pulls in neither trio
nor the SNMP stack. The scan engine's plumbing (the batched sweep, the token bucket, the pinger's
batch path, the UDP transport) is in :mod:`printerhq.lowlevel`; everything else is internal.
"""

from __future__ import annotations

from importlib import import_module

# typing costs more to import than this whole module: type checkers read this name as True.
TYPE_CHECKING = False

__version__ = "0.1.0"

# Public name -> the module that defines it.
_HOMES: dict[str, str] = {
    # Scanning.
    "Scanner": "printerhq.engine",
    "ScanOptions": "printerhq.engine",
    "DiscoveryMemory": "printerhq.adaptive",
    "DiscoveryPolicy": "printerhq.adaptive",
    # Targets.
    "TargetSpec": "printerhq.targets",
    "TargetError": "printerhq.targets",
    "parse_targets": "printerhq.targets",
    "load_target_file": "printerhq.targets",
    "resolve": "printerhq.targets",
    # The data model.
    "SCHEMA_VERSION": "printerhq.model",
    "DeviceReport": "printerhq.model",
    "Identity": "printerhq.model",
    "Counter": "printerhq.model",
    "Supply": "printerhq.model",
    "InputTray": "printerhq.model",
    "Cover": "printerhq.model",
    "Alert": "printerhq.model",
    "Status": "printerhq.model",
    "FieldProblem": "printerhq.model",
    "SnmpCost": "printerhq.traffic",
    "ScanStats": "printerhq.model",
    "TrafficCount": "printerhq.traffic",
    "ScanReport": "printerhq.model",
    # The SNMP client.
    "SnmpClient": "printerhq.snmp.client",
    "Target": "printerhq.snmp.client",
    "SnmpError": "printerhq.snmp.client",
    "SnmpTimeout": "printerhq.snmp.client",
    "SnmpBadReply": "printerhq.snmp.client",
    "SnmpErrorStatus": "printerhq.snmp.client",
    "SnmpWalkError": "printerhq.snmp.client",
    # Credentials.
    "Credential": "printerhq.snmp.credentials",
    "Community": "printerhq.snmp.credentials",
    "UsmCredential": "printerhq.snmp.v3credential",
    "UsmUser": "printerhq.snmp.usm",
    "AuthProtocol": "printerhq.snmp.usm",
    "PrivProtocol": "printerhq.snmp.usm",
    # The SNMP codec (sans-IO).
    "encode_message": "printerhq.snmp.message",
    "decode_message": "printerhq.snmp.message",
    "Message": "printerhq.snmp.message",
    "Pdu": "printerhq.snmp.message",
    "PduType": "printerhq.snmp.message",
    "Varbind": "printerhq.snmp.message",
    "Version": "printerhq.snmp.message",
    "ErrorStatus": "printerhq.snmp.message",
    "Tag": "printerhq.snmp.ber",
    "SnmpDecodeError": "printerhq.snmp.ber",
    "parse_oid": "printerhq.snmp.ber",
    "format_oid": "printerhq.snmp.ber",
}

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AuthProtocol",
    "Community",
    "Counter",
    "Cover",
    "Credential",
    "DeviceReport",
    "DiscoveryMemory",
    "DiscoveryPolicy",
    "ErrorStatus",
    "FieldProblem",
    "Identity",
    "InputTray",
    "Message",
    "Pdu",
    "PduType",
    "PrivProtocol",
    "ScanOptions",
    "ScanReport",
    "ScanStats",
    "Scanner",
    "SnmpBadReply",
    "SnmpClient",
    "SnmpCost",
    "SnmpDecodeError",
    "SnmpError",
    "SnmpErrorStatus",
    "SnmpTimeout",
    "SnmpWalkError",
    "Status",
    "Supply",
    "Tag",
    "Target",
    "TargetError",
    "TargetSpec",
    "TrafficCount",
    "UsmCredential",
    "UsmUser",
    "Varbind",
    "Version",
    "__version__",
    "decode_message",
    "encode_message",
    "format_oid",
    "load_target_file",
    "parse_oid",
    "parse_targets",
    "resolve",
]

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports
    from typing import Any

    from printerhq.adaptive import DiscoveryMemory, DiscoveryPolicy
    from printerhq.engine import Scanner, ScanOptions
    from printerhq.model import (
        SCHEMA_VERSION,
        Alert,
        Counter,
        Cover,
        DeviceReport,
        FieldProblem,
        Identity,
        InputTray,
        ScanReport,
        ScanStats,
        Status,
        Supply,
    )
    from printerhq.snmp.ber import SnmpDecodeError, Tag, format_oid, parse_oid
    from printerhq.snmp.client import (
        SnmpBadReply,
        SnmpClient,
        SnmpError,
        SnmpErrorStatus,
        SnmpTimeout,
        SnmpWalkError,
        Target,
    )
    from printerhq.snmp.credentials import Community, Credential
    from printerhq.snmp.message import (
        ErrorStatus,
        Message,
        Pdu,
        PduType,
        Varbind,
        Version,
        decode_message,
        encode_message,
    )
    from printerhq.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
    from printerhq.snmp.v3credential import UsmCredential
    from printerhq.targets import (
        TargetError,
        TargetSpec,
        load_target_file,
        parse_targets,
        resolve,
    )


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'printerhq' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
