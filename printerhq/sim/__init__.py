"""Printer fleet simulator: serve ``.snmprec`` recordings on many loopback addresses.

- :mod:`.recording` - sans-IO: parse snmpsim recordings, answer GET/GETNEXT/GETBULK lookups
- :mod:`.agent`     - sans-IO: an SNMPv1/v2c responder over one recording (bytes in, bytes out)
- :mod:`.faults`    - sans-IO: broken replies for testing a collector's defences
- :mod:`.server`    - trio: one UDP socket per loopback address, ``serve_fleet()``
"""

from .agent import Agent, LogEntry
from .recording import Recording, RecordingError
from .server import Fleet, serve_fleet

__all__ = ["Agent", "Fleet", "LogEntry", "Recording", "RecordingError", "serve_fleet"]
