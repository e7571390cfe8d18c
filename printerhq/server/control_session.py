"""The server's half of one agent's control session (text frames on the stream, see
printerhq.control): record what the agent says, push the configuration it should run.

Push rule: after the agent's ``hello``, and whenever the wanted configuration changes, push the
newest version unless the agent already runs it, or already answered it (``rejected`` and
``ignored`` are final for that version: a site that disallows remote configuration hears about
each version once). Changes made through this instance's API wake the session at once; changes
made elsewhere (``printerhq server set-config``, another instance) are seen by polling.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from printerhq import control
from printerhq.server.agent_control import AgentControl
from printerhq.server.store import Agent

log = logging.getLogger("printerhq.server")


class ConfigSignal:
    """Per-agent wake-ups for sessions on this instance when an administrator sets a config."""

    def __init__(self) -> None:
        self._events: dict[int, trio.Event] = {}

    def event(self, agent_id: int) -> trio.Event:
        return self._events.setdefault(agent_id, trio.Event())

    def changed(self, agent_id: int) -> None:
        self._events.pop(agent_id, trio.Event()).set()


class ControlSession:
    def __init__(
        self,
        agents: AgentControl,
        agent: Agent,
        send_text: Callable[[str], Awaitable[None]],
        signal: ConfigSignal,
        poll: float = 5.0,
    ):
        self.agents, self.agent, self.send_text = agents, agent, send_text
        self.signal, self.poll = signal, poll
        self._hello = trio.Event()
        self._running_version = 0
        self._pushed = 0

    async def received(self, text: str) -> None:
        """One text frame from the agent; ``ControlError`` for one outside the schema."""
        message = control.decode_from_agent(text)
        await self.agents.record(self.agent.id, message)
        if isinstance(message, control.Hello):
            self._running_version = message.config_version
            self._hello.set()
        elif isinstance(message, control.ConfigResult):
            if message.outcome == "applied":
                self._running_version = message.version
            log.info(
                "agent %s: configuration %d %s%s",
                self.agent.name,
                message.version,
                message.outcome,
                f": {message.reason}" if message.reason else "",
            )

    async def push_loop(self) -> None:
        await self._hello.wait()
        while True:
            wake = self.signal.event(self.agent.id)
            wanted = await self.agents.wanted(self.agent.id)
            if (
                wanted is not None
                and wanted.version not in (self._running_version, self._pushed)
                and await self.agents.outcome(self.agent.id, wanted.version)
                not in ("rejected", "ignored")
            ):
                await self.send_text(
                    control.encode(
                        control.ConfigPush(version=wanted.version, document=wanted.document)
                    )
                )
                self._pushed = wanted.version
                log.info("agent %s: configuration %d pushed", self.agent.name, wanted.version)
            with trio.move_on_after(self.poll):
                await wake.wait()
