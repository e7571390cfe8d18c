"""Per-device collection: the fewest request/response pairs that fill a DeviceReport.

The planner is sans-IO. A :class:`Collection` yields :class:`Request` descriptions and consumes
:class:`Response` varbinds; :func:`collect` is the thin trio shell that carries them over an
:class:`~printerhq.snmp.client.SnmpClient`, and :func:`collect_in_process` drives the same
machine against any ``respond(bytes) -> bytes`` callable (the simulator's ``Agent``) so tests and
benchmarks count real encoded bytes.

Plan (RFC 3416 semantics throughout; the byte accounting is in :mod:`.cost` and
``docs/metrics.md``):

* **cold** (first sight, every ``refresh_every`` scans, or when sysUpTime went backwards or the
  serial changed): one GET with every scalar the report needs (identity, status, marker row 1,
  the vendor's counters and first-choice identity sources; nothing discovery's GET already
  answered or found absent) — GET, because an absent object then costs only a noSuchObject —
  then GETBULK walks of the supply, input, cover, console, alert and vendor counter tables.
  What depends on the scalars (second-choice identity sources, the cover/console/alert walks,
  Ricoh's supply fallbacks) rides as non-repeaters in those walk exchanges. A walk runs through
  a contiguous run of columns; once its first column ends the remaining cells are known, and
  the cost model decides per run: walk on (one request OID, maybe overshoot) or ask each cell
  exactly (one OID per cell, no overshoot). Tables that may be absent start with a
  one-varbind probe; a counter table's value column waits for its key column and is then
  read exactly.
* **warm**: one GETBULK. Every dynamic value that answered in the cold pass; each multi-row
  column (levels, cover states, console lines, a counter table, known alert rows) is either a
  repeater — split into segments that meet end to end when it is longer than the shared
  max-repetitions — or exact GETNEXT-of-predecessor cells, whichever the cost model prices
  lower. Alerts: prtAlertAllEvents unchanged means no row was added, so only the known rows are
  checked (rows never change once raised) in the same PDU; when it moved the severity column
  is walked and only new rows are read. A supply level that rose (cartridge swapped) re-reads
  that supply's capacity and description.
* tooBig halves the request and the limit is remembered per device; a GETBULK answer cut short
  is completed; a GET that fails as a whole (genErr: devices whose GET is broken but GETNEXT
  works) is re-asked as GETNEXTs; SNMPv1 agents (no GETBULK) get GETs and GETNEXTs throughout.

Modules: :mod:`.messages` (requests, encoding), :mod:`.state` (the per-device cache),
:mod:`.runs` (table runs), :mod:`.cost` (the byte-cost model), :mod:`.planner` (the state
machine), :mod:`.passes` (cold/warm plans), :mod:`.report` (building the DeviceReport),
:mod:`.base` (what those three parts of :class:`Collection` share),
:mod:`.drive` (trio and in-process drivers).

* **known** (:meth:`Collection.known`, :func:`collect_known`): a repeat scan of a warm printer
  skips discovery. The identity is discovery's answer cached at the last full scan; the warm
  GETBULK also carries the change detectors (sysUpTime.0, the serial's source object or
  sysObjectID.0: ~75 B both ways). A restart, another serial, an error or silence stops the
  collection (:class:`DeviceChanged`) before anything is cached, and the caller runs discovery
  and a normal collection in the same scan.

Static data lives in :class:`DeviceState`, one per device, gathered in a fleet-wide
:class:`DeviceCache` (msgspec Structs, so the agent can persist them).
"""

from printerhq.traffic import IPV4_UDP_OVERHEAD as IP_UDP_OVERHEAD

from .drive import collect, collect_in_process, collect_known, collect_known_in_process
from .messages import Request, Response, account, encode_request, request_message
from .planner import Collection, DeviceChanged
from .state import CachedCounter, CachedSupply, CachedTray, DeviceCache, DeviceState

__all__ = [
    "IP_UDP_OVERHEAD",
    "CachedCounter",
    "CachedSupply",
    "CachedTray",
    "Collection",
    "DeviceCache",
    "DeviceChanged",
    "DeviceState",
    "Request",
    "Response",
    "account",
    "collect",
    "collect_in_process",
    "collect_known",
    "collect_known_in_process",
    "encode_request",
    "request_message",
]
