"""Bounds on values that travel: every boundary enforces the same ones.

A value outside these is absurd for a printer however well-formed it is, and it stops where it
enters: the collector turns it into a ``FieldProblem`` (the field is left out of the report), the
server refuses the report naming the field and the reason. Never a crash further down (a SQLite
INTEGER is a signed 64-bit number; a JSON number is exact only up to 2**53).
"""

from __future__ import annotations

# Page and usage counters (prtMarkerLifeCount is a Counter32; vendor tables use Counter64). A
# printer that prints ten pages a second for a century reaches 3.2e10; 2**53 - 1 is exact in every
# JSON reader and fits every database integer.
MAX_COUNTER = 2**53 - 1

# RFC 3805 levels and capacities are Integer32 with the special values -1 (unlimited / other),
# -2 (unknown) and -3 (some remaining / some space left).
MIN_LEVEL = -3
MAX_LEVEL = 2**31 - 1

# Table indexes (prtMarkerSuppliesIndex, prtInputIndex, prtAlertIndex ...): Integer32 (1..2**31-1).
MIN_INDEX = 0
MAX_INDEX = 2**31 - 1

# TimeTicks (sysUpTime, prtAlertTime): RFC 2578 section 7.1.8, 0..2**32-1.
MAX_TIME_TICKS = 2**32 - 1

# Text read from a device (sysDescr is a DisplayString of at most 255 octets by RFC 1213, but real
# devices send more; the scanner has always cut at 1,024 characters).
MAX_TEXT = 1024

# Entries per table in one report: more than any real device has (the largest real recording
# has 44 supplies), few enough that one report stays small.
MAX_TABLE_ROWS = 256

# Timestamps an agent sends (Unix seconds), checked against the server's own clock: a report may
# wait in a spool for a long time, but none comes from the future beyond plain clock skew.
MAX_REPORT_AGE = 400 * 86400
MAX_CLOCK_SKEW = 86400

# Lists of problems a report carries (``DeviceReport.invalid`` and ``errors``): one entry per
# field that failed, so a device with many bad table rows may have more than one table's worth.
MAX_PROBLEMS = 4 * MAX_TABLE_ROWS

# Bounds any timestamp must meet before it is compared with the server's clock: finite, not
# before 1970 and not after 2**33 s (year 2242). A float outside is never a real clock reading.
MAX_TIMESTAMP = float(2**33)
