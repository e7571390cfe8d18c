"""Adaptive discovery: remember who answered, probe blank space less and less often.

Enterprise address plans are mostly empty: a /16 with 1% printers is 64,880 blank addresses.
Re-probing every one of them on every scan is what makes a scanner expensive on the wire, so the
scanner keeps a :class:`DiscoveryMemory` between scans (saved atomically beside the spool):

* **Responders** (SNMP agents, printers, hosts that only answered ping or HTTP) are kept *per
  address* with when they last answered and what they were, and are probed on every scan. One
  that stops answering is demoted to blank after ``forget_after`` silent scans.
* **Blank addresses** are kept *per /24 block*: a 256-bit map of the addresses of the block that
  were probed and stayed silent, how many due scans in a row the block produced no new responder
  (``misses``) and the scan it was last probed in. A block is due again after
  ``2**misses`` scans plus a per-block stagger of less than that again, never more than
  ``max_interval_scans``, or after ``max_interval_seconds`` whatever the count (the cap: a
  printer plugged into blank space is found within 16 scans or a day by default). Addresses of
  a block that were never probed are always probed.

Why blocks and not addresses: a /16 of blanks costs 256 small entries (about 60 KB) instead of
65,536 Python objects; a /8 at most 65,536 entries. Blanks in one block share their history in
practice (they were swept together), and a block where a new device appears is reset to
probing every scan, so nothing is lost in precision that matters for finding printers. The
backoff phase is staggered per block (a hash of the block number delays each block by up to one
more interval) so that the blank space of a large range comes due spread over several scans
instead of all in the same one.

The memory also carries the collector's per-printer cache (:attr:`DiscoveryMemory.devices`, a
:class:`~printerhq.collect.DeviceCache`), saved in the same file and the same atomic write, so an
agent that restarts still knows its printers: their next scan is warm and skips discovery
(docs/engine.md). It is nested as its own msgpack blob: a cache from an older layout is dropped
alone (one cold scan of each printer), the discovery memory stays.

Only IPv4 is remembered (IPv6 ranges are small by construction, see ``targets.DEFAULT_MAX_IPV6``,
and are probed on every scan). Memory is bounded by ``max_known`` responders and ``max_blocks``
blocks; past those the entries probed longest ago are evicted (which only means "probe again").
"""

from __future__ import annotations

__all__ = ["DiscoveryMemory", "DiscoveryPolicy", "Seen", "STATE_FILE"]

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from .atomicfile import write_atomic
from .collect.state import DeviceCache

log = logging.getLogger(__name__)

Kind = Literal["printer", "snmp", "alive", "ews"]
STATE_FILE = "discovery.msgpack"
_STATE_VERSION = 1
_BITMAP_BYTES = 32  # 256 addresses of a /24
_INDEX_MASK = 0xFFFF  # scan indices are kept modulo 2**16 in the blocks


class Seen(msgspec.Struct, array_like=True):
    """One responder: Unix times it last answered and was last probed, silent scans since, and
    what it was (``"printer"``, ``"snmp"`` agent, ``"alive"``: ping only, ``"ews"``: a printer
    found by its web page)."""

    last_seen: float
    last_probe: float
    misses: int
    kind: str


class _Saved(msgspec.Struct):
    version: int
    scan_index: int
    scan_times: dict[int, float]
    known: dict[int, Seen]
    # block (address >> 8) -> misses (1 byte), last scan index (2 bytes LE), blank bitmap (32)
    blocks: dict[int, bytes]
    devices: bytes = b""  # DeviceCache.encode(): the per-printer collection cache


@dataclass(frozen=True)
class DiscoveryPolicy:
    """Knobs of the backoff. Defaults: a blank block waits 2, 4, 8, then 16 scans between
    probes (each wait up to twice that for a staggered half of the blocks, never beyond 16),
    and is probed at least once a day."""

    max_interval_scans: int = 16
    max_interval_seconds: float = 24 * 3600.0
    forget_after: int = 3  # silent scans before a responder is treated as blank space
    max_known: int = 1_000_000
    max_blocks: int = 1 << 17

    def __post_init__(self) -> None:
        if not 1 <= self.max_interval_scans <= 1 << 14:
            raise ValueError("max_interval_scans must be between 1 and 16384")
        if self.max_interval_seconds <= 0 or self.forget_after < 1:
            raise ValueError("max_interval_seconds > 0 and forget_after >= 1 required")
        if self.max_known < 1 or self.max_blocks < 1:
            raise ValueError("max_known and max_blocks must be >= 1")


def _v4(address: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address) -> int | None:
    if isinstance(address, int):
        return address if 0 <= address < 1 << 32 else None
    try:
        parsed = address if not isinstance(address, str) else ipaddress.ip_address(address)
    except ValueError:
        return None
    return int(parsed) if parsed.version == 4 else None


def _stagger(block: int, interval: int) -> int:
    # Knuth's multiplicative hash: spreads neighbouring blocks over the phases of the interval.
    return ((block * 2654435761) >> 8) % interval if interval > 1 else 0


class DiscoveryMemory:
    """What earlier scans learned; decides which addresses the next scan probes.

    A scan calls :meth:`begin_scan`, then per address :meth:`should_probe` and, for those probed,
    :meth:`record`, then :meth:`end_scan` (and :meth:`save` when persistent). Not thread-safe;
    one scan at a time (the :class:`~printerhq.engine.Scanner` serialises them).
    """

    def __init__(
        self, path: str | Path | None = None, policy: DiscoveryPolicy | None = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.policy = policy or DiscoveryPolicy()
        self.scan_index = 0
        self.scan_times: dict[int, float] = {}
        self.known: dict[int, Seen] = {}
        self.blocks: dict[int, bytearray] = {}
        self._due: dict[int, bool] = {}  # blocks looked at in this scan -> were they due
        self._fresh: set[int] = set()  # blocks where this scan found a new responder
        self._now = 0.0
        self.devices = DeviceCache()  # per-printer collection state, persisted with the rest

    # -- persistence ------------------------------------------------------------------------

    @classmethod
    def load(cls, state_dir: str | Path, policy: DiscoveryPolicy | None = None) -> DiscoveryMemory:
        """The memory saved in ``state_dir`` (created if missing); empty if none or unreadable
        (a damaged file costs one full scan, never a crash)."""
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        memory = cls(directory / STATE_FILE, policy)
        try:
            data = memory.path.read_bytes()  # type: ignore[union-attr]
        except FileNotFoundError:
            return memory
        try:
            saved = msgspec.msgpack.decode(data, type=_Saved)
            if saved.version != _STATE_VERSION:
                raise ValueError(f"state version {saved.version}")
            if any(len(b) != 3 + _BITMAP_BYTES for b in saved.blocks.values()):
                raise ValueError("bad block entry")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            log.warning("discovery state %s unreadable (%s): starting afresh", memory.path, exc)
            return memory
        memory.scan_index = saved.scan_index
        memory.scan_times = saved.scan_times
        memory.known = saved.known
        memory.blocks = {k: bytearray(v) for k, v in saved.blocks.items()}
        if saved.devices:
            try:
                memory.devices = DeviceCache.decode(saved.devices)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning(
                    "device cache in %s unreadable (%s): printers start cold", memory.path, exc
                )
        return memory

    def save(self) -> None:
        """Write the state atomically: a temporary file in the same directory, fsync, rename
        (POSIX rename is atomic), so a crash or cancellation leaves the old or the new file."""
        if self.path is None:
            return
        saved = _Saved(
            _STATE_VERSION,
            self.scan_index,
            self.scan_times,
            self.known,
            {k: bytes(v) for k, v in self.blocks.items()},
            self.devices.encode() if self.devices.devices else b"",
        )
        data = msgspec.msgpack.encode(saved)
        write_atomic(self.path, data)

    # -- one scan ---------------------------------------------------------------------------

    def begin_scan(self, now: float) -> None:
        self.scan_index += 1
        self._now = now
        self.scan_times[self.scan_index] = now
        # Only the times of scans within the cap can matter (older blocks are due anyway).
        oldest = self.scan_index - self.policy.max_interval_scans
        for index in [i for i in self.scan_times if i < oldest]:
            del self.scan_times[index]
        self._due.clear()
        self._fresh.clear()

    def should_probe(
        self,
        address: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address,
        now: float | None = None,
    ) -> bool:
        """False only for blank space whose backoff interval has not run out yet."""
        value = _v4(address)
        if value is None or value in self.known:
            return True
        block_number = value >> 8
        block = self.blocks.get(block_number)
        if block is None or not block[3 + ((value & 0xFF) >> 3)] >> (value & 7) & 1:
            return True  # never probed (as blank space): always
        due = self._due.get(block_number)
        if due is None:
            due = self._block_due(block_number, block, self._now if now is None else now)
            self._due[block_number] = due
        return due

    def _block_due(self, number: int, block: bytearray, now: float) -> bool:
        policy = self.policy
        misses = block[0]
        last = block[1] | block[2] << 8
        since = (self.scan_index - last) & _INDEX_MASK
        interval = min(1 << min(misses, 14), policy.max_interval_scans)
        # The stagger only ever delays (never below 2**misses), so a repeat scan right after
        # the first one skips all blank space.
        threshold = min(interval + _stagger(number, interval), policy.max_interval_scans)
        if since >= threshold:
            return True
        last_time = self.scan_times.get(self.scan_index - since)
        return last_time is None or now - last_time >= policy.max_interval_seconds

    def record(
        self,
        address: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address,
        kind: str | None,
        now: float | None = None,
    ) -> None:
        """The outcome of probing ``address``: what answered (``kind``), or None for silence."""
        value = _v4(address)
        if value is None:
            return
        now = self._now if now is None else now
        block_number = value >> 8
        block = self.blocks.get(block_number)
        bit = 3 + ((value & 0xFF) >> 3), 1 << (value & 7)
        seen = self.known.get(value)
        if kind is not None:
            if seen is None:
                if block is not None and block[bit[0]] & bit[1]:
                    # Something answered where earlier scans heard nothing: this block
                    # changes, so it goes back to being probed every scan for a while.
                    self._fresh.add(block_number)
                self.known[value] = Seen(now, now, 0, kind)
            else:
                seen.last_seen = seen.last_probe = now
                seen.misses = 0
                seen.kind = kind
            if block is not None:
                block[bit[0]] &= ~bit[1] & 0xFF
            return
        if seen is not None:
            seen.last_probe = now
            seen.misses += 1
            if seen.misses < self.policy.forget_after:
                return
            del self.known[value]  # gone: treat as blank space from now on
            # ... and its collection state with it (a device that comes back starts cold)
            self.devices.devices.pop(str(ipaddress.IPv4Address(value)), None)
        if block is None:
            block = bytearray(3 + _BITMAP_BYTES)
            block[1] = self.scan_index & 0xFF
            block[2] = self.scan_index >> 8 & 0xFF
            self.blocks[block_number] = block
            self._due[block_number] = True  # a new block starts its backoff this scan
        block[bit[0]] |= bit[1]
        self._due.setdefault(block_number, False)

    def end_scan(self, complete: bool = True) -> None:
        """Advance the backoff of every block that was due and probed this scan, then enforce
        the bounds. ``complete=False`` (a cancelled scan): only new responders count; blocks
        that were due keep their schedule, so their unprobed addresses are probed next time."""
        index = self.scan_index & _INDEX_MASK
        for number, due in self._due.items():
            block = self.blocks.get(number)
            if block is None:
                continue
            if number in self._fresh:
                block[0] = 0  # something new appeared here: look closely again
            elif due and complete:
                block[0] = min(block[0] + 1, 255)
            else:
                continue
            block[1], block[2] = index & 0xFF, index >> 8
        self._due.clear()
        self._fresh.clear()
        self._evict()

    def _evict(self) -> None:
        policy = self.policy
        if len(self.known) > policy.max_known:
            ordered = sorted(self.known, key=lambda a: self.known[a].last_probe)
            for address in ordered[: len(self.known) - policy.max_known]:
                del self.known[address]
        if len(self.blocks) > policy.max_blocks:

            def age(number: int) -> int:
                block = self.blocks[number]
                return (self.scan_index - (block[1] | block[2] << 8)) & _INDEX_MASK

            ordered = sorted(self.blocks, key=age, reverse=True)
            for number in ordered[: len(self.blocks) - policy.max_blocks]:
                del self.blocks[number]

    # -- inspection -------------------------------------------------------------------------

    def kind_of(
        self, address: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> str | None:
        """What ``address`` was when it last answered, if it is a known responder."""
        value = _v4(address)
        seen = self.known.get(value) if value is not None else None
        return seen.kind if seen is not None else None
