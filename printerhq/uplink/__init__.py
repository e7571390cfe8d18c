"""Uplink: reports go into a durable spool, then stream to the central server.

``Uplink`` is the one object an application embeds::

    async with Uplink(url, token, spool_dir, agent="site-a") as uplink:
        await uplink.submit(report)     # returns once the report is fsync'd in the spool
        await uplink.flush(timeout=10)  # optional: wait until the server acknowledged all
"""

from printerhq.uplink.client import TlsOptions, Uplink, UplinkError
from printerhq.uplink.spool import Spool, SpoolError, SpoolFullError

__all__ = ["Spool", "SpoolError", "SpoolFullError", "Uplink", "UplinkError", "TlsOptions"]
