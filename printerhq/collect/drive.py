"""Drivers: the trio shell over SnmpClient, and an in-process driver for tests and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from printerhq.model import DeviceReport, Identity
from printerhq.snmp.message import Message, PduType, Version, decode_message, encode_message
from printerhq.traffic import SnmpCost

from .bounds import fit_report
from .messages import Response, account, request_message
from .planner import Collection, DeviceChanged
from .state import DeviceCache, DeviceState

if TYPE_CHECKING:  # the trio shell; imported in the functions, so the planner imports without it
    from printerhq.snmp.client import SnmpClient, Target


def collect_in_process(
    identity: Identity,
    respond: Callable[[bytes], bytes | None],
    cache: DeviceCache | DeviceState | None = None,
    *,
    community: bytes = b"public",
    decode: Callable[[bytes], Message] = decode_message,
    encode: Callable[[Message], bytes] = encode_message,
    refresh_every: int = 96,
    now: float | None = None,
    version: Version = Version.V2C,
) -> DeviceReport:
    """Run a collection against ``respond`` (e.g. ``Agent(recording).respond``) in-process.

    Every request and reply is encoded and decoded for real, so ``report.cost`` counts the same
    bytes a network collection would send (``decode`` is swappable for codec benchmarks).
    """
    collection = Collection(
        identity, cache, refresh_every=refresh_every, now=now, bulk=version != Version.V1
    )
    _drive_in_process(collection, respond, community, version, decode, encode)
    report = collection.report()
    report.protocol = "snmpv1" if version == Version.V1 else "snmpv2c"
    return report


def collect_known_in_process(
    address: str,
    respond: Callable[[bytes], bytes | None],
    cache: DeviceCache | DeviceState,
    *,
    community: bytes = b"public",
    refresh_every: int = 96,
    now: float | None = None,
    version: Version = Version.V2C,
) -> DeviceReport | None:
    """:func:`collect_known` against ``respond`` in-process. None when the cache cannot skip
    discovery for ``address``; raises :class:`DeviceChanged` when the detectors say so."""
    collection = Collection.known(
        address, cache, refresh_every=refresh_every, now=now, bulk=version != Version.V1
    )
    if collection is None:
        return None
    _drive_in_process(collection, respond, community, version, decode_message, encode_message)
    if collection.stale is not None:
        raise DeviceChanged(collection.stale)
    report = collection.report()
    report.protocol = "snmpv1" if version == Version.V1 else "snmpv2c"
    return report


def _drive_in_process(
    collection: Collection,
    respond: Callable[[bytes], bytes | None],
    community: bytes,
    version: Version,
    decode: Callable[[bytes], Message],
    encode: Callable[[Message], bytes],
) -> None:
    request_id = 0x0100_0000
    while (request := collection.next_request()) is not None:
        request_id += 1
        data = encode(request_message(request, request_id, community, version))
        reply = respond(data)
        account(collection.cost, len(data), len(reply) if reply is not None else None)
        if reply is None:
            collection.fail("no reply")
            break
        try:
            message = decode(reply)
        except Exception as exc:  # hostile reply: this device's problem, not the scan's
            collection.fail(f"undecodable reply: {exc}")
            break
        pdu = message.pdu
        collection.feed(Response(list(pdu.varbinds), pdu.error_status, pdu.error_index))


async def collect(
    client: SnmpClient,
    target: Target,
    cache: DeviceCache | DeviceState | None = None,
    identity: Identity | None = None,
    *,
    cost: SnmpCost | None = None,
    refresh_every: int = 96,
) -> DeviceReport:
    """Collect one device over ``client`` (an open :class:`~printerhq.snmp.client.SnmpClient`).

    ``identity`` is discovery's answer (:func:`printerhq.mib.identify`); without it the
    discovery GET is sent first. ``cache`` (a fleet :class:`DeviceCache` or one device's
    :class:`DeviceState`, updated in place) makes the next collection of this device warm.
    ``cost``, when given (e.g. already holding the discovery exchange), is added to and becomes
    ``report.cost``. SNMP failures end this device's collection with an
    entry in ``report.errors``; they never propagate.
    """
    from printerhq.mib.identify import DISCOVERY_OIDS, identify
    from printerhq.snmp.client import SnmpError

    cost = cost if cost is not None else SnmpCost()
    if identity is None:
        try:
            varbinds = await client.get(target, DISCOVERY_OIDS, cost=cost)
        except SnmpError as exc:
            report = DeviceReport(
                identity=Identity(address=target.address),
                scanned_at=time.time(),
                errors=[str(exc)],
                cost=cost,
            )
            return fit_report(report)
        identity = identify(target.address, varbinds)
    credential = target.credential
    is_v1 = credential is not None and credential.version == Version.V1
    collection = Collection(identity, cache, refresh_every=refresh_every, bulk=not is_v1)
    collection.cost = cost
    await _drive(client, target, collection)
    report = collection.report()
    credential = target.credential  # the one that answered (set by the client)
    if credential is not None:
        report.protocol = credential.protocol
    return report


async def collect_known(
    client: SnmpClient,
    target: Target,
    cache: DeviceCache | DeviceState,
    *,
    cost: SnmpCost | None = None,
    refresh_every: int = 96,
    now: float | None = None,
) -> DeviceReport | None:
    """A repeat collection of a known printer *without* discovery (:meth:`Collection.known`).

    ``target.credential`` should be the credential that answered last time. One warm
    exchange, carrying the change detectors, usually does it. Returns None when the cache
    cannot skip discovery for this address (unknown, not warm, a cold refresh due); raises
    :class:`DeviceChanged` when the device restarted, was replaced, did not answer or answered
    with an error — the caller then runs discovery and :func:`collect` (the cache is left as
    it was, so that collection decides cold or warm on fresh facts). ``cost`` is added to
    either way.
    """
    cost = cost if cost is not None else SnmpCost()
    credential = target.credential
    is_v1 = credential is not None and credential.version == Version.V1
    collection = Collection.known(
        target.address, cache, refresh_every=refresh_every, now=now, bulk=not is_v1
    )
    if collection is None:
        return None
    collection.cost = cost
    await _drive(client, target, collection)
    if collection.stale is not None:
        raise DeviceChanged(collection.stale)
    report = collection.report()
    if credential is not None:
        report.protocol = credential.protocol
    return report


async def _drive(client: SnmpClient, target: Target, collection: Collection) -> None:
    from printerhq.snmp.client import SnmpError

    kinds = {"get": PduType.GET, "next": PduType.GET_NEXT, "bulk": PduType.GET_BULK}
    while (request := collection.next_request()) is not None:
        try:
            pdu = await client.request(
                target,
                kinds[request.kind],
                request.oids,
                non_repeaters=request.non_repeaters,
                max_repetitions=request.max_repetitions,
                cost=collection.cost,
            )
        except SnmpError as exc:
            collection.fail(str(exc))
            break
        collection.feed(Response(list(pdu.varbinds), pdu.error_status, pdu.error_index))
