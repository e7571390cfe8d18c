"""The MIB catalogue as data: standard objects, vendor tables, decoders, identification.

* :mod:`.standard` — system group, Host Resources, Printer MIB objects and enumerations;
* :mod:`.vendors` — per-vendor recognition patterns, identity OIDs, page counters, quirks;
* :mod:`.decode` — varbind value decoders that never raise past :func:`.decode.decode_field`;
* :mod:`.identify` — :data:`DISCOVERY_OIDS` and :func:`identify` for discovery;

The allow-list of what may be requested is not here: it is written by hand, apart from the
catalogue, in :mod:`printerhq.allowlist`.
"""

from .identify import DISCOVERY_OIDS, identify, match_vendor
from .oids import OID, dotted, oid
from .vendors import VENDORS, Vendor, vendor_named

__all__ = [
    "DISCOVERY_OIDS",
    "OID",
    "VENDORS",
    "Vendor",
    "dotted",
    "identify",
    "match_vendor",
    "oid",
    "vendor_named",
]
