"""Per-device collection: the fewest request/response pairs that fill a DeviceReport.

The planner is sans-IO. A :class:`Collection` yields :class:`Request` descriptions and consumes
:class:`Response` varbinds; :func:`collect` is the thin trio shell that carries them over an
:class:`~printerhq.snmp.client.SnmpClient`, and :func:`collect_in_process` drives the same
machine against any ``respond(bytes) -> bytes`` callable (the simulator's ``Agent``) so tests and
benchmarks count real encoded bytes.

Plan (RFC 3416 semantics throughout):

* **cold** (first sight, every ``refresh_every`` scans, or when sysUpTime went backwards or the
  serial changed): one GET with every scalar the report needs (identity, status, marker row 1,
  the vendor's counters and identity candidates), then the tables — supplies, inputs, covers,
  console, alerts and vendor counter tables — each walked as one contiguous run of columns with
  GETBULK. A run's ``max-repetitions`` is the number of varbinds still expected once the row
  count is known (the first column ends), so almost nothing beyond the table comes back; runs
  whose expected sizes are close share one GETBULK.
* **warm**: one GETBULK. Its non-repeaters are the dynamic instances found in the cold pass
  (status, counters, single-row levels), each asked as GETNEXT of its predecessor so the OID
  costs no more than in a GET; its repeaters are the multi-row columns (supply levels, tray
  levels, a vendor counter table), one request OID per column. Alerts: prtAlertAllEvents says
  whether any were added since the last scan; rows never change once raised, so only the
  severity column is walked (when there were alerts) and only new rows are read. A supply level
  that rose (cartridge swapped) re-reads that supply's capacity and description.
* tooBig halves the request and the limit is remembered per device; a GETBULK answer cut short
  is completed; a GET that fails as a whole (genErr: devices whose GET is broken but GETNEXT
  works) is re-asked as GETNEXTs; SNMPv1 agents (no GETBULK) get GETNEXTs throughout.

Modules: :mod:`.messages` (requests, encoding), :mod:`.state` (the per-device cache),
:mod:`.runs` (table runs), :mod:`.planner` (the state machine), :mod:`.passes` (cold/warm
plans), :mod:`.report` (building the DeviceReport), :mod:`.drive` (trio and in-process drivers).

Static data lives in :class:`DeviceState`, one per device, gathered in a fleet-wide
:class:`DeviceCache` (msgspec Structs, so the agent can persist them).
"""

from .drive import collect, collect_in_process
from .messages import IP_UDP_OVERHEAD, Request, Response, account, encode_request, request_message
from .planner import Collection
from .state import CachedCounter, CachedSupply, CachedTray, DeviceCache, DeviceState

__all__ = ["Request", "Response", "DeviceCache", "DeviceState", "Collection", "collect",
           "collect_in_process", "encode_request", "request_message", "account",
           "IP_UDP_OVERHEAD", "CachedCounter", "CachedSupply", "CachedTray"]
