"""Benchmark: our SNMP codec against pysnmp's (pyasn1 BER), same messages, same run.

    python -m benchmarks.bench_codec [--json] [--quick] [--check]

For GetResponse messages of 1, 20 and 60 varbinds with the values a printer really returns
(Printer-MIB supply levels as INTEGER, descriptions as OCTET STRING, page counters as Counter32,
sysUpTime as TimeTicks, HP enterprise OIDs), it times:

- encode: ``encode_message(Message)`` vs ``pyasn1.codec.ber.encoder.encode(<pysnmp Message>)``
  on an already built pysnmp object (so pysnmp is not charged for building it);
- decode: ``decode_message(bytes)`` vs ``decoder.decode(bytes, asn1Spec=<pysnmp Message>)``
  (the spec object built once; pysnmp is not charged for reading values out of its objects,
  which ours already returns as plain Python values).

Both sides first prove they agree on the bytes. Each figure is the best of several repeats of a
loop sized to about 0.1 s (timeit-style: the minimum is the least disturbed by other load on a
shared machine). ``--check`` exits 1 when decode is less than 20x faster than pysnmp at 20 or
more varbinds (the design target). Runtime about 15 s (``--quick``: about 4 s).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pysnmp
from pyasn1.codec.ber import decoder, encoder

from printerhq.snmp import (
    Message,
    Pdu,
    PduType,
    RequestTemplate,
    Tag,
    Varbind,
    Version,
    decode_message,
    encode_message,
)
from tests.pysnmp_bridge import pysnmp_module, to_pysnmp

SIZES = (1, 20, 60)
DECODE_TARGET = 20.0
PRINTER_MIB = (1, 3, 6, 1, 2, 1, 43)
HP = (1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 4, 2, 1)


def printer_varbinds(count: int) -> list[Varbind]:
    """A realistic mix, cycling over what a collection GET of a colour laser printer returns."""
    supplies = (
        b"Black Cartridge HP 508A",
        b"Cyan Cartridge HP 508A",
        b"Magenta Cartridge HP 508A",
        b"Yellow Cartridge HP 508A",
    )
    out: list[Varbind] = []
    for i in range(count):
        row = i // 6 + 1
        kind = i % 6
        if kind == 0:  # sysUpTime.0
            out.append(Varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 123_456_789 + i))
        elif kind == 1:  # prtMarkerSuppliesDescription
            out.append(
                Varbind((*PRINTER_MIB, 11, 1, 1, 6, 1, row), Tag.OCTET_STRING, supplies[row % 4])
            )
        elif kind == 2:  # prtMarkerSuppliesMaxCapacity
            out.append(Varbind((*PRINTER_MIB, 11, 1, 1, 8, 1, row), Tag.INTEGER, 7000))
        elif kind == 3:  # prtMarkerSuppliesLevel (-3 = "some remaining", RFC 3805)
            out.append(
                Varbind(
                    (*PRINTER_MIB, 11, 1, 1, 9, 1, row),
                    Tag.INTEGER,
                    -3 if row % 5 == 0 else 100 * row % 7000,
                )
            )
        elif kind == 4:  # prtMarkerLifeCount
            out.append(
                Varbind((*PRINTER_MIB, 10, 2, 1, 4, 1, row), Tag.COUNTER32, 48_213 + 1000 * row)
            )
        else:  # HP total engine page count, an enterprise Counter32
            out.append(Varbind((*HP, 1, 16, 1, 1, row), Tag.COUNTER32, 3_123_456 + row))
    return out


def response(count: int) -> Message:
    return Message(
        Version.V2C, b"public", Pdu(PduType.RESPONSE, 0x1234_5678, 0, 0, printer_varbinds(count))
    )


def best_microseconds(func: Callable[[], object], repeats: int, target_seconds: float) -> float:
    """Best-of-``repeats`` time per call, each repeat a loop of about ``target_seconds``."""
    timer = timeit.Timer(func)
    number = 1
    while timer.timeit(number) < target_seconds / 4 and number < 1_000_000:
        number *= 4
    scale = max(1, round(target_seconds / max(timer.timeit(number), 1e-9) * number))
    return min(timer.repeat(repeat=repeats, number=scale)) / scale * 1e6


@dataclass
class Row:
    varbinds: int
    message_bytes: int
    operation: str
    ours_us: float
    pysnmp_us: float

    @property
    def ratio(self) -> float:
        return self.pysnmp_us / self.ours_us

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            ours_us_per_varbind=self.ours_us / self.varbinds,
            pysnmp_us_per_varbind=self.pysnmp_us / self.varbinds,
            ratio=self.ratio,
        )
        return data


def measure(repeats: int, target_seconds: float) -> tuple[list[Row], dict[str, float]]:
    spec = pysnmp_module(Version.V2C).Message()
    rows: list[Row] = []
    for size in SIZES:
        message = response(size)
        ours_bytes = encode_message(message)
        theirs = to_pysnmp(message)
        theirs_bytes = encoder.encode(theirs)
        # Agreement before speed: same bytes, and each side reads the other's output.
        if ours_bytes != theirs_bytes:
            raise SystemExit(f"codecs disagree on the {size}-varbind message")
        if decode_message(theirs_bytes) != message:
            raise SystemExit("our decoder misread pysnmp's encoding")
        decoded, rest = decoder.decode(ours_bytes, asn1Spec=spec)
        if rest or encoder.encode(decoded) != ours_bytes:
            raise SystemExit("pysnmp misread our encoding")
        rows.append(
            Row(
                size,
                len(ours_bytes),
                "encode",
                best_microseconds(lambda m=message: encode_message(m), repeats, target_seconds),
                best_microseconds(lambda t=theirs: encoder.encode(t), repeats, target_seconds),
            )
        )
        rows.append(
            Row(
                size,
                len(ours_bytes),
                "decode",
                best_microseconds(lambda b=ours_bytes: decode_message(b), repeats, target_seconds),
                best_microseconds(
                    lambda b=ours_bytes: decoder.decode(b, asn1Spec=spec), repeats, target_seconds
                ),
            )
        )
    # The per-send cost on a discovery sweep: a fresh encoding against a patched template.
    probe = Message(
        Version.V2C,
        b"public",
        Pdu(PduType.GET, 0x0100_0000, 0, 0, [Varbind((1, 3, 6, 1, 2, 1, 1, 1, 0))]),
    )
    template = RequestTemplate(probe)
    sends = {
        "encode_message": best_microseconds(lambda: encode_message(probe), repeats, target_seconds),
        "RequestTemplate.render": best_microseconds(
            lambda: template.render(0x0100_0001), repeats, target_seconds
        ),
    }
    return rows, sends


def print_table(rows: list[Row], sends: dict[str, float]) -> None:
    print(
        f"SNMP codec: printerhq vs pysnmp {pysnmp.__version__} "
        f"(Python {platform.python_version()}, {platform.machine()})"
    )
    print("GetResponse, SNMPv2c; times are best-of-repeats, microseconds\n")
    header = (
        f"{'varbinds':>8} {'bytes':>6} {'op':<7} {'ours/msg':>9} {'ours/vb':>8} "
        f"{'pysnmp/msg':>11} {'pysnmp/vb':>10} {'speedup':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.varbinds:>8} {row.message_bytes:>6} {row.operation:<7} "
            f"{row.ours_us:>9.2f} {row.ours_us / row.varbinds:>8.2f} "
            f"{row.pysnmp_us:>11.1f} {row.pysnmp_us / row.varbinds:>10.1f} "
            f"{row.ratio:>7.1f}x"
        )
    print(
        "\nGET sysDescr.0 per send: "
        + ", ".join(f"{name} {us:.2f} us" for name, us in sends.items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if decode is under {DECODE_TARGET:.0f}x pysnmp at >=20 vbs",
    )
    args = parser.parse_args(argv)
    repeats, target = (3, 0.03) if args.quick else (5, 0.1)
    rows, sends = measure(repeats, target)
    if args.json:
        json.dump(
            {
                "pysnmp": pysnmp.__version__,
                "python": platform.python_version(),
                "rows": [row.as_dict() for row in rows],
                "per_send_us": sends,
                "decode_target_ratio": DECODE_TARGET,
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print_table(rows, sends)
    short = [
        row
        for row in rows
        if row.operation == "decode" and row.varbinds >= 20 and row.ratio < DECODE_TARGET
    ]
    if short and not args.json:
        print(
            f"\nbelow the {DECODE_TARGET:.0f}x decode target: "
            + ", ".join(f"{row.varbinds} varbinds ({row.ratio:.1f}x)" for row in short)
        )
    return 1 if args.check and short else 0


if __name__ == "__main__":
    sys.exit(main())
