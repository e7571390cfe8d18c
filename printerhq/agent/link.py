"""The agent's end of the control channel (the Uplink's ``control`` endpoint).

State, not a log, travels: each connection opens with ``hello`` and the current ``status``; in
between, new status and configuration results are queued (bounded; on overflow the oldest status
goes first — a newer one supersedes it). A reconnect drops the queue, since the opening messages
carry the same state afresh; configuration results are repeated in the opening of the next
connection (the server records them idempotently), so one lost with a dropped connection still
arrives.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

import trio

from printerhq import control
from printerhq.agent.logs import event
from printerhq.agent.remote import RemoteConfigKeeper

log = logging.getLogger("printerhq.agent")

MAX_QUEUE = 32


class ControlLink:
    def __init__(
        self, keeper: RemoteConfigKeeper, version: str, status: Callable[[], control.Status]
    ):
        self.keeper = keeper
        self.version = version
        self.status = status
        self._queue: collections.deque[str] = collections.deque()
        self._results: dict[int, control.ConfigResult] = {}  # not yet sent on a connection
        self._ready = trio.Event()

    # -- the Uplink's side ------------------------------------------------------------------
    def connected(self) -> list[str]:
        self._queue.clear()
        self._ready = trio.Event()
        hello = control.Hello(
            version=self.version,
            remote_config=self.keeper.allowed,
            config_version=self.keeper.version,
        )
        opening = [control.encode(hello), control.encode(self.status())]
        opening += [control.encode(result) for result in self._results.values()]
        self._results.clear()
        return opening

    async def next_message(self) -> str:
        while not self._queue:
            await self._ready.wait()
            self._ready = trio.Event()
        return self._queue.popleft()

    async def drained(self) -> None:
        """Wait until everything queued was handed to a connection."""
        while self._queue:
            await trio.sleep(0.05)

    async def received(self, text: str) -> None:
        try:
            push = control.decode_from_server(text)
        except control.ControlError as exc:
            event(log, "control_message_refused", logging.WARNING, error=str(exc)[:300])
            return
        result = self.keeper.offer(push)
        if result is not None:
            self.post(result)

    # -- the agent's side -------------------------------------------------------------------
    def post(self, message: control.Status | control.ConfigResult) -> None:
        if isinstance(message, control.ConfigResult):
            self._results[message.version] = message
        self._queue.append(control.encode(message))
        while len(self._queue) > MAX_QUEUE:
            self._queue.popleft()
        self._ready.set()
