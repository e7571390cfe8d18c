"""The one sanitiser of text for terminals and logs (printerhq.terminal), and the log formats
that use it (printerhq.agent.logs, the server's and the CLI's logging)."""

from __future__ import annotations

import io
import json
import logging
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.agent.logs import setup_logging
from printerhq.commands.output import safe_library_warnings
from printerhq.terminal import SafeFormatter, safe, safe_json

# What a hostile device can put in a string to drive a terminal.
OSC_TITLE = "\x1b]0;owned\x07"  # set the window title (OSC, BEL-terminated)
OSC_CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # write the clipboard
CSI_CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor home
C1_CSI = "\x9b31m"  # 8-bit CSI: red
BIDI = "\u202eexe.txt"  # right-to-left override: reads "txt.exe"
HOSTILE = [OSC_TITLE, OSC_CLIPBOARD, CSI_CLEAR, C1_CSI, BIDI, "a\u200bb", "x\x7fy", "\ud800"]
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def unsafe_characters(text: str, *, newlines: bool = False) -> list[str]:
    return [
        ch
        for ch in text
        if unicodedata.category(ch) in UNSAFE_CATEGORIES and not (newlines and ch == "\n")
    ]


def test_escape_sequences_become_visible_escapes():
    assert safe(OSC_TITLE) == "\\x1b]0;owned\\x07"
    assert safe(CSI_CLEAR) == "\\x1b[2J\\x1b[H"
    assert safe(C1_CSI) == "\\x9b31m"
    assert safe(BIDI) == "\\u202eexe.txt"
    assert safe("a\u200bb") == "a\\u200bb"  # zero-width space (Cf)
    assert safe("x\x7fy") == "x\\x7fy"  # DEL
    assert safe("\ud800") == "\\ud800"  # a lone surrogate would make print() fail
    assert safe("line\nbreak\ttab") == "line\\x0abreak\\x09tab"
    assert safe("line\nbreak", newlines=True) == "line\nbreak"


def test_printable_text_is_unchanged():
    for text in ("HP LaserJet M404dn", "Büro 3. Stock", "東京オフィス", "non\u00a0breaking", ""):
        assert safe(text) == text
    assert safe(42) == "42"


@settings(deadline=None, max_examples=500)
@given(st.text(), st.booleans())
def test_safe_output_never_carries_a_control_or_invisible_character(text, newlines):
    out = safe(text, newlines=newlines)
    assert not unsafe_characters(out, newlines=newlines)
    out.encode("utf-8")  # printable to any UTF-8 terminal (no lone surrogate)
    if text.isprintable():
        assert out == text


@settings(deadline=None, max_examples=500)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    ),
    st.sampled_from([None, 2]),
)
def test_safe_json_is_lossless_and_inert(value, indent):
    text = safe_json(value, indent=indent)
    assert json.loads(text) == value
    assert not unsafe_characters(text, newlines=True)


def test_safe_json_keeps_readable_text():
    assert safe_json({"location": "Büro", "descr": OSC_TITLE}) == (
        '{"location": "Büro", "descr": "\\u001b]0;owned\\u0007"}'
    )
    assert json.loads(safe_json(["\U000e0001"])) == ["\U000e0001"]  # outside the BMP: a pair


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad reply {OSC_TITLE}")
        except ValueError as error:
            exc_info = (type(error), error, error.__traceback__)
    return logging.LogRecord(
        "printerhq.engine", logging.WARNING, __file__, 1, message, args, exc_info
    )


def test_safe_formatter_escapes_the_message_and_keeps_traceback_lines():
    formatter = SafeFormatter("%(levelname)s %(message)s")
    line = formatter.format(_record("device %s said %s", "10.0.0.5", CSI_CLEAR + "\nFAKE line"))
    assert line == "WARNING device 10.0.0.5 said \\x1b[2J\\x1b[H\\x0aFAKE line"
    text = formatter.format(_record("collection failed", exc=True))
    assert "\x1b" not in text and "\\x1b]0;owned\\x07" in text
    assert text.count("\n") >= 2  # the traceback keeps its lines


def _agent_log(as_json: bool) -> str:
    stream = io.StringIO()
    setup_logging(stream, as_json=as_json)
    try:
        logging.getLogger("printerhq.agent").warning(
            "supply %s", BIDI, extra={"fields": {"sys_descr": OSC_TITLE + "\nforged=1"}}
        )
    finally:
        logging.getLogger().handlers.clear()
    return stream.getvalue()


def test_agent_text_log_lines_carry_no_escapes():
    text = _agent_log(as_json=False)
    assert not unsafe_characters(text, newlines=True)
    assert text.count("\n") == 1  # one event, one line: the newline in the value is escaped
    assert "supply \\u202eexe.txt sys_descr=\\x1b]0;owned\\x07\\x0aforged=1" in text


def test_agent_json_log_lines_carry_no_escapes_and_keep_the_value():
    text = _agent_log(as_json=True)
    assert not unsafe_characters(text, newlines=True)
    line = json.loads(text)
    assert line["sys_descr"] == OSC_TITLE + "\nforged=1"
    assert line["event"] == "supply " + BIDI


def test_library_warnings_without_logging_setup_carry_no_escapes(capsys):
    assert logging.lastResort is not None
    previous = logging.lastResort.formatter
    safe_library_warnings()
    try:
        # No handler configured: logging's last resort writes to stderr.
        root_handlers = logging.getLogger().handlers[:]
        logging.getLogger().handlers.clear()
        try:
            logging.getLogger("printerhq.uplink").warning("server said %s", OSC_CLIPBOARD)
        finally:
            logging.getLogger().handlers[:] = root_handlers
    finally:
        logging.lastResort.setFormatter(previous)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "server said \\x1b]52;c;cm0gLXJmIH4=\\x07" in err


def test_server_agents_table_shows_agent_reported_text_safely():
    from printerhq.server.agents_command import render_agents

    row = {
        "name": "site-a",
        "health": "ok",
        "state": CSI_CLEAR,
        "version": OSC_TITLE + "\nforged",
        "heartbeat_at": None,
        "last_cycle": None,
        "config": {
            "wanted": None,
            "applied": 0,
            "outcome": "rejected",
            "result_version": 2,
            "reason": BIDI,
        },
    }
    text = render_agents([row], now=0.0)
    assert not unsafe_characters(text, newlines=True)
    assert len(text.splitlines()) == 2  # the header and one line for the agent
    assert "\\x1b]0;owned\\x07\\x0aforged" in text and "\\u202eexe.txt" in text
