"""The agent's audit trail (docs/audit.md): a local, rotating, human-readable log of every
request the agent sends and every upload, and its summary (``printerhq audit``).

* :mod:`.record`: the events, one JSON object per line (sans-IO);
* :mod:`.contents`: what an upload carried, field by field, never a value (sans-IO);
* :mod:`.summary`: a period of the trail, summarised (sans-IO);
* :mod:`.log`: the writer (rotation, full disk, the last uploads kept) and the reader.
"""
