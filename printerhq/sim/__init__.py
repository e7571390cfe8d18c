"""Printer fleet simulator: serve ``.snmprec`` recordings on many loopback addresses."""

from .recording import Recording, RecordingError

__all__ = ["Recording", "RecordingError"]
