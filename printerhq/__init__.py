"""printerhq: printer-fleet data collector and central server, on trio."""

__version__ = "0.1.0"
