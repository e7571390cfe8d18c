"""Standard objects a printer report needs: SNMPv2-MIB system group (RFC 3418), IF-MIB's
ifPhysAddress (RFC 2863), HOST-RESOURCES-MIB (RFC 2790) and the Printer MIB (RFC 3805) with the
IANA-PRINTER-MIB enumerations. Numeric OIDs cross-checked with ``snmptranslate -On`` (see
``shared/realdata/OIDS.md``).

Only the objects named here (and the vendor objects in :mod:`printerhq.mib.vendors`) are ever
requested, and each must lie inside the hand-written allow-list (:mod:`printerhq.allowlist`),
which the SNMP client enforces.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .oids import oid

if TYPE_CHECKING:
    from printerhq.model import CounterUnit, SupplyKind

# --- SNMPv2-MIB system group: scalars, instance .0
SYS_DESCR = oid("1.3.6.1.2.1.1.1.0")
SYS_OBJECT_ID = oid("1.3.6.1.2.1.1.2.0")
SYS_UPTIME = oid("1.3.6.1.2.1.1.3.0")
SYS_CONTACT = oid("1.3.6.1.2.1.1.4.0")  # never requested: it names a person (allowlist.py)
SYS_NAME = oid("1.3.6.1.2.1.1.5.0")
SYS_LOCATION = oid("1.3.6.1.2.1.1.6.0")

# --- IF-MIB: the MAC of the first interfaces (printers number their Ethernet port 1 or 2)
IF_PHYS_ADDRESS = oid("1.3.6.1.2.1.2.2.1.6")

# --- HOST-RESOURCES-MIB, hrDeviceIndex 1 is the printer on every recording we have
HR_DEVICE_TYPE = oid("1.3.6.1.2.1.25.3.2.1.2")
HR_DEVICE_DESCR = oid("1.3.6.1.2.1.25.3.2.1.3")
HR_DEVICE_STATUS = oid("1.3.6.1.2.1.25.3.2.1.5")
HR_PRINTER_STATUS = oid("1.3.6.1.2.1.25.3.5.1.1")
HR_PRINTER_ERROR_STATE = oid("1.3.6.1.2.1.25.3.5.1.2")
HR_DEVICE_PRINTER = oid("1.3.6.1.2.1.25.3.1.5")  # value of hrDeviceType for a printer

HR_DEVICE_STATUS_NAMES = {1: "unknown", 2: "running", 3: "warning", 4: "testing", 5: "down"}
HR_PRINTER_STATUS_NAMES = {1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
# hrPrinterDetectedErrorState: bit 0 is the most significant bit of the first octet (RFC 2790).
HR_ERROR_FLAGS = (
    "lowPaper",
    "noPaper",
    "lowToner",
    "noToner",
    "doorOpen",
    "jammed",
    "offline",
    "serviceRequested",
    "inputTrayMissing",
    "outputTrayMissing",
    "markerSupplyMissing",
    "outputNearFull",
    "outputFull",
    "inputTrayEmpty",
    "overduePreventMaint",
)

# --- Printer MIB (RFC 3805), base 1.3.6.1.2.1.43; instances are .<hrDeviceIndex>.<row>
PRT = oid("1.3.6.1.2.1.43")
PRT_GENERAL_PRINTER_NAME = oid("1.3.6.1.2.1.43.5.1.1.16")
PRT_GENERAL_SERIAL = oid("1.3.6.1.2.1.43.5.1.1.17")
# Counter32, +1 each time an alert is added to prtAlertTable (RFC 3805): unchanged and no rows
# last time means the table is still empty, so the warm scan need not look.
PRT_ALERT_ALL_EVENTS = oid("1.3.6.1.2.1.43.5.1.1.19")

PRT_COVER_ENTRY = oid("1.3.6.1.2.1.43.6.1.1")  # .2 description, .3 status
PRT_COVER_STATUS_NAMES = {
    1: "other",
    2: "unknown",
    3: "open",
    4: "closed",
    5: "interlock_open",
    6: "interlock_closed",
}

PRT_INPUT_ENTRY = oid("1.3.6.1.2.1.43.8.2.1")  # .8 unit .9 max .10 level .12 media .13 name
PRT_MARKER_ENTRY = oid("1.3.6.1.2.1.43.10.2.1")  # .3 counter unit .4 life .5 power-on .6 colorants
PRT_SUPPLY_ENTRY = oid("1.3.6.1.2.1.43.11.1.1")  # .4 class .5 type .6 descr .7 unit .8 max .9 level
PRT_COLORANT_VALUE = oid("1.3.6.1.2.1.43.12.1.1.4")
PRT_CONSOLE_TEXT = oid("1.3.6.1.2.1.43.16.5.1.2")
PRT_ALERT_ENTRY = oid(
    "1.3.6.1.2.1.43.18.1.1"
)  # .2 severity .4 group .5 group index .7 code .8 descr .9 time

# prtMarkerCounterUnit / prtMarkerSuppliesSupplyUnit / prtInputCapacityUnit (RFC 3805 TCs).
UNIT_NAMES = {
    1: "other",
    2: "unknown",
    3: "tenThousandthsOfInches",
    4: "micrometers",
    5: "characters",
    6: "lines",
    7: "impressions",
    8: "sheets",
    9: "dotRow",
    11: "hours",
    12: "thousandthsOfOunces",
    13: "tenthsOfGrams",
    14: "hundrethsOfFluidOunces",
    15: "tenthsOfMilliliters",
    16: "feet",
    17: "meters",
    18: "items",
    19: "percent",
}
# Our model's counter units (printerhq.model.CounterUnit) for prtMarkerCounterUnit values.
# PrtMarkerCounterUnitTC (RFC 3805): every unit a marker may count in has its name in the model.
COUNTER_UNITS: dict[int, CounterUnit] = {
    3: "tenThousandthsOfInches",
    4: "micrometers",
    5: "characters",
    6: "lines",
    7: "impressions",
    8: "sheets",
    9: "dotRow",
    11: "hours",
    16: "feet",
    17: "meters",
}

SUPPLY_CLASS_RECEPTACLE = 4  # receptacleThatIsFilled: the level counts up (waste toner)

# IANA-PRINTER-MIB PrtMarkerSuppliesTypeTC.
SUPPLY_TYPE_NAMES = {
    1: "other",
    2: "unknown",
    3: "toner",
    4: "wasteToner",
    5: "ink",
    6: "inkCartridge",
    7: "inkRibbon",
    8: "wasteInk",
    9: "opc",
    10: "developer",
    11: "fuserOil",
    12: "solidWax",
    13: "ribbonWax",
    14: "wasteWax",
    15: "fuser",
    16: "coronaWire",
    17: "fuserOilWick",
    18: "cleanerUnit",
    19: "fuserCleaningPad",
    20: "transferUnit",
    21: "tonerCartridge",
    22: "fuserOiler",
    23: "water",
    24: "wasteWater",
    25: "glueWaterAdditive",
    26: "wastePaper",
    27: "bindingSupply",
    28: "bandingSupply",
    29: "stitchingWire",
    30: "shrinkWrap",
    31: "paperWrap",
    32: "staples",
    33: "inserts",
    34: "covers",
    35: "matteToner",
    36: "matteInk",
}
# Our coarse kinds (printerhq.model.SupplyKind).
SUPPLY_KINDS: dict[int, SupplyKind] = {
    3: "toner",
    21: "toner",
    35: "toner",
    5: "ink",
    6: "ink",
    36: "ink",
    7: "ribbon",
    13: "ribbon",
    9: "drum",
    10: "developer",
    15: "fuser",
    11: "fuser",
    17: "fuser",
    22: "fuser",
    19: "fuser",
    4: "waste",
    8: "waste",
    14: "waste",
    24: "waste",
    26: "waste",
    20: "transfer",
    18: "cleaner",
    16: "other",
    32: "staples",
    29: "staples",
}
WASTE_TYPES = frozenset((4, 8, 14, 24, 26))


_WASTE = re.compile(r"\bwaste\b", re.IGNORECASE)


def is_receptacle(type_code: int | None, description: str | None) -> bool:
    """A supply that fills up rather than runs out (RFC 3805 prtMarkerSuppliesClass
    receptacle(4)): a waste type, or, where the agent gives no specific type (Konica Minolta
    answers without the type column), a description that says waste."""
    if type_code in WASTE_TYPES:
        return True
    if type_code in (None, 1, 2):  # absent, other, unknown
        return bool(description and _WASTE.search(description))
    return False


ALERT_SEVERITY_NAMES = {1: "other", 3: "critical", 4: "warning", 5: "warning_binary_change"}
ALERT_GROUP_NAMES = {
    1: "other",
    3: "hostResourcesMIBStorageTable",
    4: "hostResourcesMIBDeviceTable",
    5: "generalPrinter",
    6: "cover",
    7: "localization",
    8: "input",
    9: "output",
    10: "marker",
    11: "markerSupplies",
    12: "markerColorant",
    13: "mediaPath",
    14: "channel",
    15: "interpreter",
    16: "consoleDisplayBuffer",
    17: "consoleLights",
    18: "alert",
    30: "finDevice",
    31: "finSupply",
    32: "finSupplyMediaInput",
    33: "finAttribute",
}
ALERT_CODE_NAMES = {
    1: "other",
    2: "unknown",
    3: "coverOpen",
    4: "coverClosed",
    5: "interlockOpen",
    6: "interlockClosed",
    7: "configurationChange",
    8: "jam",
    9: "subunitMissing",
    10: "subunitLifeAlmostOver",
    11: "subunitLifeOver",
    12: "subunitAlmostEmpty",
    13: "subunitEmpty",
    14: "subunitAlmostFull",
    15: "subunitFull",
    16: "subunitNearLimit",
    17: "subunitAtLimit",
    18: "subunitOpened",
    19: "subunitClosed",
    20: "subunitTurnedOn",
    21: "subunitTurnedOff",
    22: "subunitOffline",
    23: "subunitPowerSaver",
    24: "subunitWarmingUp",
    25: "subunitAdded",
    26: "subunitRemoved",
    27: "subunitResourceAdded",
    28: "subunitResourceRemoved",
    29: "subunitRecoverableFailure",
    30: "subunitUnrecoverableFailure",
    31: "subunitRecoverableStorageError",
    32: "subunitUnrecoverableStorageError",
    33: "subunitMotorFailure",
    34: "subunitMemoryExhausted",
    35: "subunitUnderTemperature",
    36: "subunitOverTemperature",
    37: "subunitTimingFailure",
    38: "subunitThermistorFailure",
    501: "doorOpen",
    502: "doorClosed",
    503: "powerUp",
    504: "powerDown",
    505: "printerNMSReset",
    506: "printerManualReset",
    507: "printerReadyToPrint",
    801: "inputMediaTrayMissing",
    802: "inputMediaSizeChange",
    803: "inputMediaWeightChange",
    804: "inputMediaTypeChange",
    805: "inputMediaColorChange",
    806: "inputMediaFormPartsChange",
    807: "inputMediaSupplyLow",
    808: "inputMediaSupplyEmpty",
    809: "inputMediaChangeRequest",
    810: "inputManualInputRequest",
    811: "inputTrayPositionFailure",
    812: "inputTrayElevationFailure",
    813: "inputCannotFeedSizeSelected",
    901: "outputMediaTrayMissing",
    902: "outputMediaTrayAlmostFull",
    903: "outputMediaTrayFull",
    904: "outputMailboxSelectFailure",
    1001: "markerFuserUnderTemperature",
    1002: "markerFuserOverTemperature",
    1003: "markerFuserTimingFailure",
    1004: "markerFuserThermistorFailure",
    1005: "markerAdjustingPrintQuality",
    1101: "markerTonerEmpty",
    1102: "markerInkEmpty",
    1103: "markerPrintRibbonEmpty",
    1104: "markerTonerAlmostEmpty",
    1105: "markerInkAlmostEmpty",
    1106: "markerPrintRibbonAlmostEmpty",
    1107: "markerWasteTonerReceptacleAlmostFull",
    1108: "markerWasteInkReceptacleAlmostFull",
    1109: "markerWasteTonerReceptacleFull",
    1110: "markerWasteInkReceptacleFull",
    1111: "markerOpcLifeAlmostOver",
    1112: "markerOpcLifeOver",
    1113: "markerDeveloperAlmostEmpty",
    1114: "markerDeveloperEmpty",
    1115: "markerTonerCartridgeMissing",
    1301: "mediaPathMediaTrayMissing",
    1302: "mediaPathMediaTrayAlmostFull",
    1303: "mediaPathMediaTrayFull",
    1304: "mediaPathCannotDuplexMediaSelected",
    1501: "interpreterMemoryIncrease",
    1502: "interpreterMemoryDecrease",
    1503: "interpreterCartridgeAdded",
    1504: "interpreterCartridgeDeleted",
    1505: "interpreterResourceAdded",
    1506: "interpreterResourceDeleted",
    1507: "interpreterResourceUnavailable",
    1509: "interpreterComplexPageEncountered",
    1801: "alertRemovalOfBinaryChangeEntry",
}

# Words in a supply description that name its colour, for devices without prtMarkerColorantTable.
COLOUR_WORDS = (
    "matte black",
    "photo black",
    "light cyan",
    "light magenta",
    "black",
    "cyan",
    "magenta",
    "yellow",
    "red",
    "blue",
    "green",
    "grey",
    "gray",
    "orange",
    "violet",
    "white",
    "clear",
    "gold",
    "silver",
)
