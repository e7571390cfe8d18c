"""A headless Chromium driven over the DevTools protocol, for dashboard end-to-end tests.

Transport: ``--remote-debugging-pipe`` — Chromium reads NUL-terminated JSON commands from fd 3 and
writes answers and events to fd 4. No debugging port is opened, and no client library is needed.
Flat sessions (``Target.attachToTarget`` with ``flatten``) put a ``sessionId`` on page commands.

Network rule: the browser may reach loopback only. Background services are switched off, and
``--host-resolver-rules`` makes every host name but ``127.0.0.1`` fail to resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

MAX_MESSAGE = 64 * 1024 * 1024  # a 1280x900 PNG in base64 is well under this


def chromium_binary() -> str | None:
    for candidate in (
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--no-pings",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--no-proxy-server",
    # Only for the test's loopback server and its throwaway self-signed certificate.
    "--ignore-certificate-errors",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
]


class CdpError(RuntimeError):
    pass


class Browser:
    """One Chromium process; ``call`` sends a command and returns its result, ``events`` keeps
    every event seen (method, params, sessionId)."""

    def __init__(self, send: trio.lowlevel.FdStream, receive: trio.lowlevel.FdStream):
        self._send, self._receive = send, receive
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    async def _read_message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = await self._receive.receive_some(1 << 20)
            if not chunk:
                raise CdpError("chromium closed the DevTools pipe")
            self._buffer += chunk
            if len(self._buffer) > MAX_MESSAGE:
                raise CdpError("DevTools message too large")
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    async def call(
        self, method: str, params: dict | None = None, session: str | None = None
    ) -> dict:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        await self._send.send_all(json.dumps(command).encode() + b"\0")
        while True:
            message = await self._read_message()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    async def wait_event(self, method: str, session: str | None = None, after: int = 0) -> dict:
        """The first event ``method`` at index >= ``after`` in ``events`` (reading more as
        needed)."""
        while True:
            for event in self.events[after:]:
                if event["method"] == method and (
                    session is None or event.get("sessionId") == session
                ):
                    return event
            message = await self._read_message()
            if "method" in message:
                self.events.append(message)

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
        )
        if "exceptionDetails" in result:
            raise CdpError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigate_and_wait(self, session: str, action, path_check: str) -> None:
        """Run ``action()`` (a coroutine function that starts a navigation), then wait until the
        page's ``location.pathname`` satisfies the JS expression ``path_check`` (over ``p``) and
        the document has loaded. Polls (at most 400 times, 25 ms apart): load events alone race
        with a redirect or a previous page's late event."""
        await action()
        predicate = (
            f"(p => ({path_check}))(location.pathname) && document.readyState === 'complete'"
        )
        for _ in range(400):
            if await self.evaluate(session, predicate):
                return
            await trio.sleep(0.025)
        raise CdpError(
            f"page never reached {path_check!r}: at {await self.evaluate(session, 'location.href')}"
        )

    async def new_page(self) -> str:
        """A blank tab, attached, with its Page, Runtime and Network events on: its session."""
        target = (await self.call("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        session: str = attached["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Network.enable"):
            await self.call(domain, session=session)
        return session

    async def open_signed_in(self, session: str, base_url: str, cookie: str, token: str) -> None:
        """Hold the dashboard's session cookie (as a sign-in leaves it) and open the fleet page."""
        await self.call(
            "Network.setCookie",
            {
                "name": cookie,
                "value": token,
                "url": base_url + "/",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Strict",
            },
            session,
        )
        await self.navigate_and_wait(
            session,
            lambda: self.call("Page.navigate", {"url": base_url + "/"}, session),
            "p === '/'",
        )


@asynccontextmanager
async def open_browser(user_data_dir: Path, log_path: Path) -> AsyncIterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError("chromium")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    # bash (dash takes one-digit fds only) moves our pipe ends to fds 3 and 4, where
    # --remote-debugging-pipe expects them.
    command = " ".join(
        [
            f"exec {_quote(binary)}",
            *(_quote(f) for f in FLAGS),
            _quote(f"--user-data-dir={user_data_dir}"),
            "about:blank",
            f"3<&{to_browser_r}",
            f"4>&{from_browser_w}",
        ]
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", command],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    os.close(to_browser_r)
    os.close(from_browser_w)
    send = trio.lowlevel.FdStream(to_browser_w)
    receive = trio.lowlevel.FdStream(from_browser_r)
    browser = Browser(send, receive)
    try:
        yield browser
    finally:
        with trio.move_on_after(10) as cleanup:
            cleanup.shield = True
            try:
                await browser.call("Browser.close")
            except (CdpError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            while process.poll() is None:
                await trio.sleep(0.05)
        if process.poll() is None:
            process.kill()  # only the browser this helper started
        process.wait(timeout=10)
        await send.aclose()
        await receive.aclose()


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (PNG spec §11.2.2); ValueError if not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
