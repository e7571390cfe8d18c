"""Scanner: discovery -> identification -> collection, with results as a stream.

An application embeds it in its own trio program; the library never calls ``trio.run``::

    async with Scanner(ScanOptions(credentials=[Community(b"public")])) as scanner:
        async with scanner.scan(["192.0.2.1", "192.0.2.2"]) as reports:
            async for report in reports:
                print(report.identity.address, report.identity.model)

A scan is a nursery tree (``examples/embed_scanner.py`` runs one inside another application)::

    scan ── producer ── host tasks (at most ``concurrency``) ── ICMP echo ┐ concurrently:
         │     │                                                 SNMP GET ┘ SNMP wins, ICMP is
         │     ├─ ARP sweeps of attached subnets (privileged)               cancelled
         │     └─ discovery sweep (GETs + echoes) ── host tasks for its responders, and for
         │                                           ping-only hosts to HTTP-probe or report
         └─ the consumer's ``async for`` (a bounded memory channel: back-pressure)

**Batched discovery** (``batched_discovery=True``, :mod:`printerhq.sweep`): an address that
needs discovery gets no task of its own: the sweep sends the pre-encoded discovery GET of the
leading community credentials from the client's shared socket, with ICMP on a pre-encoded echo
beside it (:meth:`Pinger.send_echo_nowait <printerhq.icmp.Pinger.send_echo_nowait>`), paced by
the same token bucket, and re-sends only to silent addresses. Responders then get a host task
from identification on; silent addresses are done, or counted alive when they answered the
echo (a host task only for the HTTP probe), or reported when the echo drew an ICMP error (which
ends their SNMP wait, as on the per-host path); without ping, with SNMPv3 credentials after the
communities, they go on to the per-host path with those (with ping, such credential lists use
the per-host path throughout).
Addresses whose reply came from elsewhere, was unreadable, or whose send failed take the
per-host path again, which reports exactly what it finds. Known printers, ARP-proved hosts,
and hostnames use the per-host path.

Per address, in order:

0. **Known printers skip discovery**: a printer whose collection state is warm
   (:meth:`DeviceCache.known <printerhq.collect.DeviceCache.known>`) gets one warm collection
   straight away, with the credential that answered last time and no ping; its single GETBULK
   also carries the change detectors (sysUpTime.0, the serial's source). A restart, another
   device, an error or silence there (:class:`~printerhq.collect.DeviceChanged`) sends the
   address down the full path below in the same scan, so correctness never rests on the
   shortcut; a device that is gone costs one unanswered warm request more than a blank address
   and gives no report, as any silent address. With a discovery memory the cache is its
   ``devices`` and persists in ``state_dir`` (an agent that restarts stays warm).
1. **Adaptive skip**: with a :class:`~printerhq.adaptive.DiscoveryMemory` (``state_dir``), blank
   space in backoff is not probed this time (``stats.skipped``).
2. **Pacing**: a token bucket (``rate`` packets per second, ``burst``) and a CapacityLimiter
   (``concurrency`` hosts in progress). Each host is charged its first discovery packets before
   it starts and its re-sends when it ends, so the long-run packet rate never exceeds ``rate``.
3. **ARP first** on directly attached subnets when privileged (``arp=None``: automatic): one ARP
   request per address in batches; silent addresses are done, the others are probed over IP
   (without ping: ARP already proved them alive). Unprivileged or routed: ICMP + SNMP.
4. **Discovery**: an ICMP echo and the SNMP discovery GET
   (:data:`~printerhq.mib.identify.DISCOVERY_OIDS`) concurrently; a host that drops ICMP is
   still found by SNMP, an SNMP answer cancels the ping wait, an ICMP error (unreachable) ends
   the SNMP wait.
5. **Identification** (:func:`~printerhq.mib.identify.identify`), then **collection** of printers
   (:func:`printerhq.collect.collect`), or for hosts alive without SNMP an **HTTP probe** of the
   embedded web server (``http=True``) that finds printers whose SNMP is off.

Reports: every SNMP agent, every printer found over HTTP, and every address where something
went wrong (``errors``: name not resolved, network unreachable, ICMP error, a reply from another
address, an unreadable reply). Silent and ping-only addresses give no report; they are counted in
:class:`~printerhq.model.ScanStats` (``scanner.stats``: the current or last scan), which also
holds packets and bytes per protocol. One bad device never stops the scan.

Cancellation: everything a scan starts lives in its nursery, the ARP socket in a ``with``; the
SNMP client, pinger and HTTP client belong to the Scanner (or to the application that passed
them in). The discovery memory is saved atomically (rename), so cancelling at any point leaves
the previous state file or a complete new one.

The package, one job per module (each imports only the ones above it):

* :mod:`~printerhq.scan.outcome`: sans-IO; what an address answered -> its outcome, recorded
  in :class:`~printerhq.model.ScanStats` and the discovery memory (the only code that changes
  either during a scan);
* :mod:`~printerhq.scan.options`: :class:`ScanOptions`;
* :mod:`~printerhq.scan.host`: the per-host path (the known-printer shortcut, discovery beside
  the echo, identification, collection, the HTTP probe, DNS);
* :mod:`~printerhq.scan.dispatch`: the adapter between the discovery sweep
  (:mod:`printerhq.sweep`) and host tasks;
* :mod:`~printerhq.scan.run`: one scan: the producer, admission and pacing, ARP first
  (:func:`printerhq.arp.arp_discover`), the counters at the end;
* :mod:`~printerhq.scan.scanner`: :class:`Scanner`, its lifecycle, ``scan()`` and ``probe()``.

``printerhq.engine`` re-exports the public names (the import path users already have).
"""

from __future__ import annotations

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "ScanOptions", "Scanner"]

from .options import DEFAULT_BURST, DEFAULT_RATE, ScanOptions
from .scanner import Scanner
