"""Synthetic embedded-web-server pages for the HTTP probe tests and the namespace lab.

Written for these tests (not copied from any vendor): each carries only the kind of marker the
signatures in printerhq/http.py look for (Server header, title wording, a label/value table),
with made-up model names and serial numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EwsSample:
    name: str
    server: str | None
    html: str
    vendor: str
    model: str | None = None
    serial: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def _page(title: str, rows: dict[str, str] | None = None, extra: str = "") -> str:
    cells = "".join(f"<tr><td class='l'>{k}</td><td>{v}</td></tr>" for k, v in (rows or {}).items())
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{extra}<table>{cells}</table></body></html>"
    )


SAMPLES: list[EwsSample] = [
    EwsSample(
        "hp",
        "HP HTTP Server; HP LaserJet Pro M404dn - W1A53A; Serial Number: PHQTEST001",
        _page(
            "HP LaserJet Pro M404dn &nbsp; 10.0.0.5",
            {"Product Name": "HP LaserJet Pro M404dn", "Serial Number": "PHQTEST001"},
        ),
        "HP",
        "HP LaserJet Pro M404dn",
        "PHQTEST001",
    ),
    EwsSample(
        "hp-chai", "HP-ChaiSOE/1.0", _page("Device Status", extra="<p>hp LaserJet 4250</p>"), "HP"
    ),
    EwsSample(
        "canon",
        "CANON HTTP Server",
        _page(
            "Remote UI: Portal: iR-ADV C5535",
            {"Device Name": "iR-ADV C5535", "Serial Number": "QPHQ00042"},
        ),
        "Canon",
        "iR-ADV C5535",
        "QPHQ00042",
    ),
    EwsSample(
        "kyocera",
        "KM-MFP-http/V0.0.1",
        _page("Command Center RX", {"Model": "ECOSYS P3145dn", "Serial Number": "VPHQ123456"}),
        "Kyocera",
        "ECOSYS P3145dn",
        "VPHQ123456",
    ),
    EwsSample(
        "brother",
        "debut/1.30",
        _page("Brother HL-L2350DW series", {"Serial no.": "E7PHQ0001"}),
        "Brother",
        "HL-L2350DW",
        "E7PHQ0001",
    ),
    EwsSample(
        "epson", "EPSON-HTTP/1.0", _page("EpsonNet Config - WF-C5790 Series"), "Epson", "WF-C5790"
    ),
    EwsSample(
        "xerox",
        "Xerox_MicroServer/Xerox11",
        _page(
            "CentreWare Internet Services - VersaLink C405",
            {"Machine Model": "Xerox VersaLink C405", "Serial Number": "3PHQ777777"},
        ),
        "Xerox",
        "Xerox VersaLink C405",
        "3PHQ777777",
    ),
    EwsSample(
        "ricoh",
        "Web-Server/3.0",
        _page("Web Image Monitor", {"Model Name": "MP C3004"}),
        "Ricoh",
        "MP C3004",
    ),
    EwsSample(
        "lexmark",
        "Lexmark_Web_Server",
        _page("Lexmark MS510dn", {"Serial Number": "45PHQ11"}),
        "Lexmark",
        "Lexmark MS510dn",
        "45PHQ11",
    ),
    EwsSample(
        "konica",
        None,
        _page("PageScope Web Connection for bizhub C300i"),
        "Konica Minolta",
        "bizhub C300i",
    ),
    EwsSample(
        "sharp",
        "Rapid Logic/1.1",
        _page("Login - MX-3071"),
        "Sharp",
        "MX-3071",
        extra_headers={"Extend-sharp-setting-status": "0"},
    ),
    EwsSample(
        "samsung", None, _page("SyncThru Web Service", {"Model Name": "M2070"}), "Samsung", "M2070"
    ),
    EwsSample(
        "toshiba",
        "TOSHIBA TEC",
        _page("TopAccess", {"Copier Model": "e-STUDIO2505AC"}),
        "Toshiba",
        "e-STUDIO2505AC",
    ),
    EwsSample("oki", None, _page("C332", extra="<p>Copyright Oki Data Corporation</p>"), "OKI"),
    EwsSample("zebra", None, _page("Zebra Technologies ZTC ZT410-203dpi ZPL"), "Zebra"),
]

BY_NAME = {s.name: s for s in SAMPLES}

NOT_PRINTERS: list[tuple[str | None, str]] = [
    ("nginx/1.24.0", _page("Welcome to nginx!")),
    ("Apache/2.4.58 (Debian)", _page("Apache2 Debian Default Page: It works")),
    (None, "<html><body>no title here</body></html>"),
]

# The page the lab's SNMP-off printer serves (only an HTTP server answers at that address).
LAB_WEB_ONLY = BY_NAME["brother"]
