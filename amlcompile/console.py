"""What `amlcompile run` and `status` print: plain lines when piped, colour and one redrawn
progress line on a terminal. Standard library only (the compiler-only install has no `rich`).

Anything that comes from outside this process (a reuse record on the datastore, a step's
output, an error message) goes through `safe()` first: control characters are shown escaped,
so a forged run id cannot move the cursor, clear the screen or fake a status line.

`AMLCOMPILE_TERMINAL=1` forces the terminal form (and `=0` the plain one); `NO_COLOR` keeps
the terminal form without colour.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time

# C0 controls but tab, DEL, C1 controls, and the Unicode line/paragraph separators and
# bidirectional overrides (which reorder what a terminal shows).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

COLOURS = {
    "success": "32",
    "reused": "36",
    "skipped": "36",
    "running": "33",
    "failed": "31",
    "upstream_failed": "31",
    "error": "31",
    "dim": "2",
    "bold": "1",
}


def safe(value) -> str:
    """`value` as one line of printable text: control characters become escapes."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    ch = match.group(0)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_terminal(stream) -> bool:
    forced = os.environ.get("AMLCOMPILE_TERMINAL", "").strip().lower()
    if forced in ("1", "true", "yes", "always"):
        return True
    if forced in ("0", "false", "no", "never"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
    """Permanent lines, plus (on a terminal) one status line at the bottom, redrawn in place."""

    def __init__(self, stream=None, terminal: bool | None = None):
        self.stream = stream if stream is not None else sys.stdout
        self.terminal = is_terminal(self.stream) if terminal is None else terminal
        self.colour = self.terminal and "NO_COLOR" not in os.environ
        self._status = ""  # the status line now on screen (terminal only)
        self._said: dict[str, float] = {}  # plain mode: progress keys already printed

    def style(self, text: str, style: str | None) -> str:
        if not (self.colour and style and style in COLOURS):
            return text
        return f"\x1b[{COLOURS[style]}m{text}\x1b[0m"

    def line(self, text: str = "") -> None:
        """A permanent line (already made safe by the caller; styles are added here)."""
        if self.terminal and self._status:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        if self.terminal and self._status:
            self.stream.write(self._status)
        self.stream.flush()

    def status(self, text: str) -> None:
        """The redrawn bottom line on a terminal; nothing when piped (see `progress`)."""
        if not self.terminal:
            return
        shown = self.style(text, "dim")
        if shown == self._status:
            return
        self._status = shown
        self.stream.write("\r\x1b[2K" + shown)
        self.stream.flush()

    def clear_status(self) -> None:
        if self.terminal and self._status:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        self._status = ""

    def progress(self, key: str, text: str) -> None:
        """Long work under way: redrawn on a terminal; printed once per `key` when piped."""
        if self.terminal:
            self.status(text)
        elif key not in self._said:
            self._said[key] = time.monotonic()
            self.line(text)

    @contextlib.contextmanager
    def working(self, text: str, delay: float = 1.0):
        """Work that may take long (compiling: hashing snapshots; uploads): after `delay`
        seconds a progress line says what is under way (redrawn with the time on a terminal,
        printed once when piped); quick work prints nothing."""
        stop = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            if stop.wait(delay):
                return
            while True:
                self.progress(text, f"{text} {elapsed(time.monotonic() - started)}")
                if not self.terminal or stop.wait(0.2):
                    return

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.clear_status()


def elapsed(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
