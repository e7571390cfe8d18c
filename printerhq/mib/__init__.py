"""The MIB catalogue as data: standard objects, vendor tables, decoders, identification.

* :mod:`.standard` — system group, Host Resources, Printer MIB objects and enumerations;
* :mod:`.vendors` — per-vendor recognition patterns, identity OIDs, page counters, quirks;
* :mod:`.decode` — varbind value decoders that never raise past :func:`.decode.decode_field`;
* :mod:`.identify` — :data:`DISCOVERY_OIDS` and :func:`identify` for discovery;
* :mod:`.allowlist` — the subtrees the collector may request (privacy by construction).
"""

from .allowlist import ALLOWED_SUBTREES, FORBIDDEN, is_allowed
from .identify import DISCOVERY_OIDS, identify, match_vendor
from .oids import OID, dotted, oid
from .vendors import VENDORS, Vendor, vendor_named

__all__ = [
    "ALLOWED_SUBTREES",
    "DISCOVERY_OIDS",
    "FORBIDDEN",
    "OID",
    "VENDORS",
    "Vendor",
    "dotted",
    "identify",
    "is_allowed",
    "match_vendor",
    "oid",
    "vendor_named",
]
