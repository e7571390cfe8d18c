"""The privacy allow-list, written by hand: the only MIB subtrees printerhq may ever ask a device
about, each with its MIB, its object and why it is needed.

This is reviewed data, on its own: it imports nothing from the MIB catalogue
(:mod:`printerhq.mib`), so adding an OID to the catalogue does *not* allow it. The SNMP client
(:mod:`printerhq.snmp.client`) refuses to send a request naming an OID outside these subtrees
(GET, GETNEXT and GETBULK alike: the OID asked must lie inside an entry or be its exact start),
the discovery sweep checks its pre-encoded GET against it, and the collector drops every varbind
of a reply outside it before anything reaches a report. ``printerhq allow-list`` prints it, and
``tests/test_privacy.py`` checks the catalogue against this very list.

How to review it: every entry is one object or one table column (or, for SNMPv3, the protocol's
own engine objects); an entry never covers a whole vendor subtree. :data:`FORBIDDEN` names what
must never be allowed (job, user, document and network-topology data); a test fails if an entry
overlaps one of them.

Decisions, and why:

* **sysContact is not allowed.** It names a person (often with an e-mail address or a phone
  number); a fleet report does not need it. sysName and sysLocation name the device and where
  it stands, which is what a technician needs to find it.
* **prtConsoleDisplayBufferText is allowed.** It is the text the front panel shows anyone
  standing at the device ("Ready", "Paper low in Cassette 1", "Close the front door."), the best
  description of why a printer stopped; no recording we have shows a job or a user name there.
  A site that wants it gone can ask for this entry to be removed: nothing else depends on it.
* **prtGeneralCurrentOperator and prtGeneralServicePerson are forbidden**: people's names.
* **Finisher tables (RFC 3806)** are allowed for device status and supplies (staples), not
  requested by the collector today.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ALLOW_LIST",
    "ALLOWED_SUBTREES",
    "FORBIDDEN",
    "Entry",
    "entry_for",
    "first_refused",
    "forbidden_for",
    "is_allowed",
]

Oid = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One subtree: the object (or column) and every instance below it."""

    dotted: str
    mib: str
    name: str
    why: str

    @property
    def oid(self) -> Oid:
        return tuple(int(part) for part in self.dotted.split("."))


_SYS = "SNMPv2-MIB (RFC 3418)"
_IF = "IF-MIB (RFC 2863)"
_HR = "HOST-RESOURCES-MIB (RFC 2790)"
_PRT = "Printer-MIB (RFC 3805)"
_FIN = "Finisher-MIB (RFC 3806)"
_FRAMEWORK = "SNMP-FRAMEWORK-MIB (RFC 3411)"
_USM = "SNMP-USER-BASED-SM-MIB (RFC 3414)"
_HP = "HP-LASERJET-COMMON-MIB (HP private, 11)"
_RICOH = "Ricoh private (367)"
_KYOCERA = "Kyocera private (1347)"
_CANON = "Canon private (1602)"
_XEROX = "Xerox private (253)"
_SAMSUNG = "Samsung private (236)"
_BROTHER = "BROTHER-MIB (Brother private, 2435)"
_LEXMARK = "Lexmark private (641)"
_DELL = "Dell private (674)"
_KONICA = "Konica Minolta private (18334)"
_SHARP = "Sharp private (2385)"
_EPSON = "Epson private (1248)"
_TOSHIBA = "Toshiba TEC private (1129)"
_ZEBRA = "ZEBRA-QL-MIB (Zebra private, 10642)"
_ESI = "ESI-MIB (Zebra print server, 683)"

_HP_PML = "1.3.6.1.4.1.11.2.3.9.4.2.1"
_KY = "1.3.6.1.4.1.1347"
_XEROX_COUNTERS = "1.3.6.1.4.1.253.8.53.13.2.1.6"
_KM = "1.3.6.1.4.1.18334.1.1.1"
_PRT_GENERAL = "1.3.6.1.2.1.43.5.1.1"

# fmt: off
ALLOW_LIST: tuple[Entry, ...] = (
    # -- the system group: what the device is, and where it stands
    Entry("1.3.6.1.2.1.1.1", _SYS, "sysDescr", "vendor, model and firmware text: identification"),
    Entry("1.3.6.1.2.1.1.2", _SYS, "sysObjectID", "vendor's product OID: identification"),
    Entry("1.3.6.1.2.1.1.3", _SYS, "sysUpTime", "notices a restart or a swapped device"),
    Entry("1.3.6.1.2.1.1.5", _SYS, "sysName", "the device's own name"),
    Entry("1.3.6.1.2.1.1.6", _SYS, "sysLocation", "where the device stands, to find it"),
    # -- the device's own network interface
    Entry("1.3.6.1.2.1.2.2.1.6", _IF, "ifPhysAddress", "the device's own MAC: one device "
          "across address changes"),
    # -- HOST-RESOURCES: the printer device and its state
    Entry("1.3.6.1.2.1.25.3.2.1.2", _HR, "hrDeviceType", "says the device is a printer"),
    Entry("1.3.6.1.2.1.25.3.2.1.3", _HR, "hrDeviceDescr", "model name"),
    Entry("1.3.6.1.2.1.25.3.2.1.5", _HR, "hrDeviceStatus", "running, warning or down"),
    Entry("1.3.6.1.2.1.25.3.5.1.1", _HR, "hrPrinterStatus", "idle, printing or warming up"),
    Entry("1.3.6.1.2.1.25.3.5.1.2", _HR, "hrPrinterDetectedErrorState", "paper, toner, door "
          "and jam flags"),
    # -- Printer-MIB: general
    Entry(f"{_PRT_GENERAL}.16", _PRT, "prtGeneralPrinterName", "model name"),
    Entry(f"{_PRT_GENERAL}.17", _PRT, "prtGeneralSerialNumber", "serial number: identification"),
    Entry(f"{_PRT_GENERAL}.19", _PRT, "prtAlertAllEvents", "alert counter: skip an unchanged "
          "alert table"),
    # -- Printer-MIB: covers
    Entry("1.3.6.1.2.1.43.6.1.1.2", _PRT, "prtCoverDescription", "which cover"),
    Entry("1.3.6.1.2.1.43.6.1.1.3", _PRT, "prtCoverStatus", "cover open or closed"),
    # -- Printer-MIB: input trays
    Entry("1.3.6.1.2.1.43.8.2.1.8", _PRT, "prtInputCapacityUnit", "unit of the tray levels"),
    Entry("1.3.6.1.2.1.43.8.2.1.9", _PRT, "prtInputMaxCapacity", "tray capacity"),
    Entry("1.3.6.1.2.1.43.8.2.1.10", _PRT, "prtInputCurrentLevel", "paper left in the tray"),
    Entry("1.3.6.1.2.1.43.8.2.1.11", _PRT, "prtInputStatus", "tray state (walked past, "
          "between the level and the media)"),
    Entry("1.3.6.1.2.1.43.8.2.1.12", _PRT, "prtInputMediaName", "paper size in the tray"),
    Entry("1.3.6.1.2.1.43.8.2.1.13", _PRT, "prtInputName", "tray name"),
    # -- Printer-MIB: markers (the print engine's page counters)
    Entry("1.3.6.1.2.1.43.10.2.1.3", _PRT, "prtMarkerCounterUnit", "unit of the page counters"),
    Entry("1.3.6.1.2.1.43.10.2.1.4", _PRT, "prtMarkerLifeCount", "lifetime page counter"),
    Entry("1.3.6.1.2.1.43.10.2.1.5", _PRT, "prtMarkerPowerOnCount", "pages since power-on"),
    Entry("1.3.6.1.2.1.43.10.2.1.6", _PRT, "prtMarkerProcessColorants", "colour or mono"),
    # -- Printer-MIB: supplies
    Entry("1.3.6.1.2.1.43.11.1.1.4", _PRT, "prtMarkerSuppliesClass", "consumed or filled "
          "(waste)"),
    Entry("1.3.6.1.2.1.43.11.1.1.5", _PRT, "prtMarkerSuppliesType", "toner, drum, waste..."),
    Entry("1.3.6.1.2.1.43.11.1.1.6", _PRT, "prtMarkerSuppliesDescription", "supply name"),
    Entry("1.3.6.1.2.1.43.11.1.1.7", _PRT, "prtMarkerSuppliesSupplyUnit", "unit of the level"),
    Entry("1.3.6.1.2.1.43.11.1.1.8", _PRT, "prtMarkerSuppliesMaxCapacity", "supply capacity"),
    Entry("1.3.6.1.2.1.43.11.1.1.9", _PRT, "prtMarkerSuppliesLevel", "supply level"),
    Entry("1.3.6.1.2.1.43.12.1.1.4", _PRT, "prtMarkerColorantValue", "supply colour"),
    # -- Printer-MIB: front panel and alerts
    Entry("1.3.6.1.2.1.43.16.5.1.2", _PRT, "prtConsoleDisplayBufferText", "front-panel status "
          "text (see the module's notes)"),
    Entry("1.3.6.1.2.1.43.18.1.1.2", _PRT, "prtAlertSeverityLevel", "alert severity"),
    Entry("1.3.6.1.2.1.43.18.1.1.3", _PRT, "prtAlertTrainingLevel", "who should act (walked "
          "past)"),
    Entry("1.3.6.1.2.1.43.18.1.1.4", _PRT, "prtAlertGroup", "which part alerts"),
    Entry("1.3.6.1.2.1.43.18.1.1.5", _PRT, "prtAlertGroupIndex", "which row of that part"),
    Entry("1.3.6.1.2.1.43.18.1.1.6", _PRT, "prtAlertLocation", "vendor location code (walked "
          "past)"),
    Entry("1.3.6.1.2.1.43.18.1.1.7", _PRT, "prtAlertCode", "what happened (jam, toner low...)"),
    Entry("1.3.6.1.2.1.43.18.1.1.8", _PRT, "prtAlertDescription", "alert text"),
    Entry("1.3.6.1.2.1.43.18.1.1.9", _PRT, "prtAlertTime", "when the alert was raised"),
    # -- Finisher-MIB: finisher status and its supplies (staples)
    Entry("1.3.6.1.2.1.43.30.1.1.2", _FIN, "finDeviceType", "stapler, folder..."),
    Entry("1.3.6.1.2.1.43.30.1.1.4", _FIN, "finDeviceDescription", "finisher name"),
    Entry("1.3.6.1.2.1.43.30.1.1.6", _FIN, "finDeviceStatus", "finisher state"),
    Entry("1.3.6.1.2.1.43.31.1.1.4", _FIN, "finSupplyDescription", "finisher supply name"),
    Entry("1.3.6.1.2.1.43.31.1.1.7", _FIN, "finSupplySupplyUnit", "unit of the level"),
    Entry("1.3.6.1.2.1.43.31.1.1.8", _FIN, "finSupplyMaxCapacity", "finisher supply capacity"),
    Entry("1.3.6.1.2.1.43.31.1.1.9", _FIN, "finSupplyCurrentLevel", "staples left"),
    # -- SNMPv3: the protocol's own engine objects
    Entry("1.3.6.1.6.3.10.2.1", _FRAMEWORK, "snmpEngine", "SNMPv3 engine discovery and time "
          "(engine ID, boots, time)"),
    Entry("1.3.6.1.6.3.15.1.1", _USM, "usmStats", "SNMPv3 reports: why an agent refused a "
          "request"),
    # -- HP (also OKI, which answers HP's device ID)
    Entry("1.3.6.1.4.1.11.2.3.9.1.1.7", _HP, "gdStatusId (IEEE 1284 device ID)", "model "
          "(MDL: field)"),
    Entry(f"{_HP_PML}.1.3.2", _HP, "model-name", "model"),
    Entry(f"{_HP_PML}.1.3.3", _HP, "serial-number", "serial number"),
    Entry(f"{_HP_PML}.1.3.5", _HP, "fw-rom-datecode", "firmware"),
    Entry(f"{_HP_PML}.1.3.6", _HP, "fw-rom-revision", "firmware"),
    Entry(f"{_HP_PML}.2.2.1.74", _HP, "scanner-flatbed-page-count", "scan counter"),
    Entry(f"{_HP_PML}.4.1.2.5", _HP, "total-engine-page-count", "page counter"),
    Entry(f"{_HP_PML}.4.1.2.6", _HP, "total-mono-page-count", "page counter"),
    Entry(f"{_HP_PML}.4.1.2.7", _HP, "total-color-page-count", "page counter"),
    Entry(f"{_HP_PML}.4.1.2.22", _HP, "duplex-page-count", "page counter"),
    Entry(f"{_HP_PML}.4.1.2.34", _HP, "print-engine-jam-count", "jam counter"),
    # -- Ricoh (also Gestetner, Lanier, NRG, Savin)
    Entry("1.3.6.1.4.1.367.3.2.1.1.1.1", _RICOH, "model name", "model"),
    Entry("1.3.6.1.4.1.367.3.2.1.1.1.2", _RICOH, "firmware version", "firmware"),
    Entry("1.3.6.1.4.1.367.3.2.1.2.1.4", _RICOH, "serial number", "serial number"),
    Entry("1.3.6.1.4.1.367.3.2.1.2.19.5.1.2", _RICOH, "counter type column", "which counter "
          "each row is"),
    Entry("1.3.6.1.4.1.367.3.2.1.2.19.5.1.9", _RICOH, "counter value column", "page counters"),
    Entry("1.3.6.1.4.1.367.3.2.1.2.24.1.1.3", _RICOH, "supply name column", "supply names "
          "where the Printer-MIB has none"),
    Entry("1.3.6.1.4.1.367.3.2.1.2.24.1.1.5", _RICOH, "supply level column", "supply levels "
          "where the Printer-MIB has none"),
    # -- Kyocera (also UTAX, TA, Copystar)
    Entry(f"{_KY}.43.5.1.1.1", _KYOCERA, "model name", "model"),
    Entry(f"{_KY}.43.5.1.1.28", _KYOCERA, "serial number", "serial number"),
    Entry(f"{_KY}.43.5.4.1.5.1", _KYOCERA, "firmware version", "firmware"),
    Entry(f"{_KY}.43.10.1.1.12.1", _KYOCERA, "total printed", "page counter"),
    Entry(f"{_KY}.42.2.1.1.1.8.1", _KYOCERA, "full-colour count", "page counter"),
    Entry(f"{_KY}.42.2.2.1.1.3.1", _KYOCERA, "black & white count", "page counter"),
    Entry(f"{_KY}.42.3.1.1.1.1", _KYOCERA, "print/copy/fax totals", "page counters"),
    Entry(f"{_KY}.46.10.1.1.5", _KYOCERA, "scan count", "scan counter"),
    # -- Canon
    Entry("1.3.6.1.4.1.1602.1.1.1.1", _CANON, "model name", "model"),
    Entry("1.3.6.1.4.1.1602.1.1.1.4", _CANON, "firmware version", "firmware"),
    Entry("1.3.6.1.4.1.1602.1.2.1.8.1.3.1", _CANON, "serial number", "serial number"),
    Entry("1.3.6.1.4.1.1602.1.11.1.3.1.4", _CANON, "counter value column", "page counters"),
    # -- Xerox and Fuji Xerox (and the Samsung-built models' firmware object)
    Entry("1.3.6.1.4.1.253.8.51.1.2.1.20", _XEROX, "device ID string", "model (MDL: field)"),
    Entry(f"{_XEROX_COUNTERS}.1.20", _XEROX, "xcmHrDevDetail print counters", "page counters"),
    Entry(f"{_XEROX_COUNTERS}.10.20", _XEROX, "xcmHrDevDetail scan counters", "scan counters"),
    Entry(f"{_XEROX_COUNTERS}.11.20", _XEROX, "xcmHrDevDetail copy counters", "page counters"),
    Entry("1.3.6.1.4.1.236.11.5.1.1.1.2", _SAMSUNG, "firmware version", "firmware of "
          "Samsung-built Xerox models"),
    # -- Brother
    Entry("1.3.6.1.4.1.2435.2.4.3.2435.5.13.3", _BROTHER, "brmDNSPrinterName", "model"),
    Entry("1.3.6.1.4.1.2435.2.3.9.1.1.7", _BROTHER, "brieee1284id", "model (MDL: field)"),
    Entry("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1", _BROTHER, "brInfoSerialNumber",
          "serial number"),
    Entry("1.3.6.1.4.1.2435.2.4.3.1240.6.5", _BROTHER, "brpsFirmwareDescription", "firmware"),
    Entry("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.54.2.2.1.3", _BROTHER, "brScanCountCounter",
          "scan counter"),
    # -- Dell (Lexmark-built models answer Lexmark's object)
    Entry("1.3.6.1.4.1.674.10898.100.2.1.2.1.3", _DELL, "device ID string", "model "
          "(MDL: field)"),
    Entry("1.3.6.1.4.1.674.10898.100.1.1.1", _DELL, "firmware version", "firmware"),
    Entry("1.3.6.1.4.1.641.2.1.2.1.3", _LEXMARK, "device ID string", "model of Lexmark-built "
          "Dell printers"),
    # -- Konica Minolta (also Develop, Olivetti)
    Entry(f"{_KM}.1.6.1", _KONICA, "firmware version", "firmware"),
    Entry(f"{_KM}.1.6.2.1", _KONICA, "model name", "model"),
    Entry(f"{_KM}.5.7.2.1.1", _KONICA, "total count", "page counter"),
    Entry(f"{_KM}.5.7.2.1.3", _KONICA, "duplex count", "page counter"),
    Entry(f"{_KM}.5.7.2.1.5", _KONICA, "scan count", "scan counter"),
    Entry(f"{_KM}.5.7.2.2.1.5.1", _KONICA, "black copy/print counts", "page counters"),
    Entry(f"{_KM}.5.7.2.2.1.5.2", _KONICA, "colour copy/print counts", "page counters"),
    # -- Sharp
    Entry("1.3.6.1.4.1.2385.2.1.3.2.1.4.13501.1302", _SHARP, "model name", "model"),
    Entry("1.3.6.1.4.1.2385.2.1.1.2.1.2", _SHARP, "firmware version", "firmware"),
    Entry("1.3.6.1.4.1.2385.1.1.19.2.1.3", _SHARP, "counter value column", "page counters"),
    Entry("1.3.6.1.4.1.2385.1.1.19.2.1.4", _SHARP, "counter name column", "which counter "
          "each row is"),
    # -- Epson
    Entry("1.3.6.1.4.1.1248.1.2.2.1.1.1.2", _EPSON, "model name", "model"),
    Entry("1.3.6.1.4.1.1248.1.1.3.1.1.1", _EPSON, "serial number", "serial number"),
    Entry("1.3.6.1.4.1.1248.1.1.3.1.21.1.1.2", _EPSON, "firmware version", "firmware"),
    # -- Toshiba TEC
    Entry("1.3.6.1.4.1.1129.1.2.1.1.1.2.1", _TOSHIBA, "bcpDeviceModel", "model"),
    Entry("1.3.6.1.4.1.1129.1.2.1.1.1.1.2", _TOSHIBA, "firmware version", "firmware"),
    # -- Zebra label printers, and their ZebraNet print server
    Entry("1.3.6.1.4.1.10642.1.1", _ZEBRA, "zbrGeneralModel", "model"),
    Entry("1.3.6.1.4.1.10642.1.2", _ZEBRA, "zbrGeneralFirmwareVersion", "firmware"),
    Entry("1.3.6.1.4.1.10642.200.17.3", _ZEBRA, "printed length", "label counter (inches)"),
    Entry("1.3.6.1.4.1.10642.200.19.5", _ZEBRA, "device serial number", "serial number"),
    Entry("1.3.6.1.4.1.10642.200.19.7", _ZEBRA, "device product name", "model"),
    Entry("1.3.6.1.4.1.683.1.4", _ESI, "genProductNumber", "model of the print server"),
    Entry("1.3.6.1.4.1.683.1.5", _ESI, "genSerialNumber", "serial of the print server"),
    Entry("1.3.6.1.4.1.683.1.9", _ESI, "genVersion", "firmware of the print server"),
)

# What must never be allowed: job, user, document and network-topology data. An entry of
# ALLOW_LIST may neither lie under one of these nor contain one (tests/test_privacy.py).
FORBIDDEN: tuple[Entry, ...] = (
    Entry("1.3.6.1.2.1.1.4", _SYS, "sysContact", "a person's name, e-mail or phone"),
    Entry("1.3.6.1.2.1.3", "RFC1213-MIB", "atTable", "address translation: other hosts' "
          "addresses"),
    Entry("1.3.6.1.2.1.4.21", "RFC1213-MIB", "ipRouteTable", "network topology"),
    Entry("1.3.6.1.2.1.4.22", "IP-MIB (RFC 4293)", "ipNetToMediaTable", "ARP table: other "
          "hosts' addresses"),
    Entry("1.3.6.1.2.1.4.35", "IP-MIB (RFC 4293)", "ipNetToPhysicalTable", "neighbour table: "
          "other hosts' addresses"),
    Entry("1.3.6.1.2.1.6.13", "TCP-MIB (RFC 4022)", "tcpConnTable", "who talks to the device"),
    Entry("1.3.6.1.2.1.6.19", "TCP-MIB (RFC 4022)", "tcpConnectionTable", "who talks to the "
          "device"),
    Entry("1.3.6.1.2.1.7.5", "UDP-MIB (RFC 4113)", "udpTable", "the device's listeners"),
    Entry("1.3.6.1.2.1.25.4", _HR, "hrSWRun", "running software"),
    Entry("1.3.6.1.2.1.25.5", _HR, "hrSWRunPerf", "running software"),
    Entry("1.3.6.1.2.1.25.6", _HR, "hrSWInstalled", "installed software"),
    Entry(f"{_PRT_GENERAL}.4", _PRT, "prtGeneralCurrentOperator", "a person's name"),
    Entry(f"{_PRT_GENERAL}.5", _PRT, "prtGeneralServicePerson", "a person's name"),
    Entry("1.3.6.1.2.1.43.14", _PRT, "prtChannelTable", "print-job channels"),
    Entry("1.3.6.1.2.1.43.15", _PRT, "prtInterpreterTable", "print-job languages"),
    Entry("1.3.6.1.2.1.97", "Job-Monitoring-MIB (RFC 2707)", "jobmonMIB", "job names, owners, "
          "documents"),
    Entry("1.0.8802.1.1.2", "LLDP-MIB (IEEE 802.1AB)", "lldpMIB", "network topology"),
    Entry("1.3.6.1.6.3.15.1.2", _USM, "usmUserTable", "SNMPv3 user names"),
    Entry("1.3.6.1.6.3.16", "SNMP-VIEW-BASED-ACM-MIB (RFC 3415)", "vacmMIB", "SNMP users and "
          "their access"),
    Entry(f"{_HP_PML}.1.6", _HP, "job-info", "job names and owners"),
)
# fmt: on

ALLOWED_SUBTREES: tuple[Oid, ...] = tuple(sorted(entry.oid for entry in ALLOW_LIST))
# Every subtree, allowed (its entry) or forbidden (None); the longest one containing an OID
# decides. A few dict look-ups per OID, not a scan of every entry: every reply varbind is checked.
_PREFIXES: dict[Oid, Entry | None] = {
    **{entry.oid: entry for entry in ALLOW_LIST},
    **{entry.oid: None for entry in FORBIDDEN},
}
_LENGTHS = tuple(sorted({len(oid) for oid in _PREFIXES}, reverse=True))


# Answers already worked out, by OID: a fleet's replies name the same cells collection after
# collection, so the check is then one dict look-up. Bounded (cleared when full): the OIDs
# come from devices.
_ANSWERS: dict[tuple[int, ...], Entry | None] = {}
_ANSWERS_MAX = 8192


def entry_for(value: Sequence[int]) -> Entry | None:
    """The allow-list entry ``value`` lies in (or starts), None when it lies in none or under a
    forbidden subtree."""
    key = value if type(value) is tuple else tuple(value)
    try:
        return _ANSWERS[key]
    except KeyError:
        pass
    answer = None
    size = len(key)
    for length in _LENGTHS:
        if size >= length:
            prefix = key[:length]
            if prefix in _PREFIXES:
                answer = _PREFIXES[prefix]
                break
    if len(_ANSWERS) >= _ANSWERS_MAX:
        _ANSWERS.clear()
    _ANSWERS[key] = answer
    return answer


def forbidden_for(value: Sequence[int]) -> Entry | None:
    """The forbidden entry ``value`` lies under, if any (for error messages)."""
    key = tuple(value)
    return next((bad for bad in FORBIDDEN if key[: len(bad.oid)] == bad.oid), None)


def is_allowed(value: Sequence[int]) -> bool:
    """True when asking a device about ``value`` (GET, or GETNEXT/GETBULK from it) stays
    inside the allow-list: it lies inside an entry's subtree or is its exact start."""
    return entry_for(value) is not None


def first_refused(oids: Iterable[Sequence[int]]) -> Oid | None:
    """The first OID of ``oids`` outside the allow-list, or None when all lie inside."""
    for value in oids:
        if not is_allowed(tuple(value)):
            return tuple(value)
    return None
