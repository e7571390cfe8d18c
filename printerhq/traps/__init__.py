"""SNMP traps and informs (optional, off by default): a bounded receiver whose events make the
agent collect the printer that sent them. See docs/traps.md."""

from .core import TrapEvent, TrapProcessor, TrapStats
from .options import TrapConfigError, TrapOptions, TrapV3User
from .receiver import TrapBindError, TrapReceiver, open_trap_receiver

__all__ = [
    "TrapBindError",
    "TrapConfigError",
    "TrapEvent",
    "TrapOptions",
    "TrapProcessor",
    "TrapReceiver",
    "TrapStats",
    "TrapV3User",
    "open_trap_receiver",
]
