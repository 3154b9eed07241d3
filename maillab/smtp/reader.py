"""Cutting a byte stream into SMTP command lines and message content.

Command lines end in CRLF and are at most 512 octets with it (RFC 5321 §4.5.3.1.4). Content ends with a
line holding only ``.``; a leading dot is removed from every other line that has one (dot-stuffing, §4.5.2).
Only CRLF ends a line: ``<LF>.<LF>`` never ends the content (§4.1.1.4; the "SMTP smuggling" case).
Nothing here raises on bad input: every defect comes back as a flag for the server to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

MAX_COMMAND_LINE = 512  # §4.5.3.1.4, CRLF included
MAX_TEXT_LINE = 1000  # §4.5.3.1.6, CRLF included
_END_OF_DATA = b"\r\n.\r\n"


class LineDefect(Enum):
    NONE = "none"
    TOO_LONG = "too long"
    BAD_CHARACTER = "NUL or 8-bit"


@dataclass(frozen=True, slots=True)
class CommandLine:
    """One command line as read: its text (without the line end), what is wrong with its characters or
    length, if anything, and whether it ended in a bare LF instead of CRLF."""

    text: str
    defect: LineDefect
    raw: bytes
    bare_lf: bool = False


@dataclass(frozen=True, slots=True)
class Content:
    """The message content after un-stuffing, with what was wrong with it."""

    data: bytes
    size: int
    too_big: bool
    long_line: bool


class CommandReader:
    """Takes command lines off the front of a shared buffer; discards an over-long line to its end."""

    __slots__ = ("max_line", "_discarding")

    def __init__(self, max_line: int = MAX_COMMAND_LINE) -> None:
        self.max_line = max_line
        self._discarding = False

    def next_line(self, buffer: bytearray) -> CommandLine | None:
        """The next complete line, removed from ``buffer``; None if more bytes are needed."""
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) >= self.max_line:
                self._discarding = True
                del buffer[:-1]  # keep a possible CR before the LF still to come
            return None
        raw = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        bare_lf = not raw.endswith(b"\r\n")
        if self._discarding or len(raw) > self.max_line:
            self._discarding = False
            return CommandLine("", LineDefect.TOO_LONG, raw, bare_lf)
        return _classify(raw, bare_lf)


def _classify(raw: bytes, bare_lf: bool) -> CommandLine:
    body = raw[:-1] if bare_lf else raw[:-2]
    if not body.isascii() or b"\x00" in body or b"\r" in body:
        return CommandLine(body.decode("latin-1"), LineDefect.BAD_CHARACTER, raw, bare_lf)
    return CommandLine(body.decode("ascii"), LineDefect.NONE, raw, bare_lf)


class ContentReader:
    """Collects content up to the terminating ``CRLF.CRLF``, keeping at most ``max_size`` octets.

    The buffer starts with a virtual CRLF so that a message whose first line is ``.`` ends at once.
    Past ``max_size`` the middle of the content is dropped (only the tail is kept to find the end).
    """

    __slots__ = ("max_size", "_buffer", "_scan_from", "_dropped")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray(b"\r\n")
        self._scan_from = 0
        self._dropped = 0

    def feed(self, buffer: bytearray) -> Content | None:
        """Move bytes from ``buffer``; return the content once the end is seen (the rest stays in buffer)."""
        self._buffer += buffer
        del buffer[:]
        end = self._buffer.find(_END_OF_DATA, self._scan_from)
        if end < 0:
            self._scan_from = max(0, len(self._buffer) - len(_END_OF_DATA) + 1)
            self._trim()
            return None
        buffer[:0] = self._buffer[end + len(_END_OF_DATA):]
        return self._finish(bytes(self._buffer[2 : end + 2]))

    def _trim(self) -> None:
        limit = self.max_size + 2 * MAX_TEXT_LINE
        if len(self._buffer) > limit:
            cut = len(self._buffer) - MAX_TEXT_LINE
            self._dropped += cut - 2
            del self._buffer[2:cut]
            self._scan_from = max(0, len(self._buffer) - len(_END_OF_DATA) + 1)

    def _finish(self, stuffed: bytes) -> Content:
        data = unstuff(stuffed)
        size = len(data) + self._dropped
        long_line = max(map(len, data.split(b"\r\n"))) + 2 > MAX_TEXT_LINE
        return Content(data, size, size > self.max_size, long_line)


def unstuff(stuffed: bytes) -> bytes:
    """Remove one leading dot from each line that starts with one (RFC 5321 §4.5.2, receiver side)."""
    data = stuffed.replace(b"\r\n.", b"\r\n")
    return data[1:] if data.startswith(b".") else data


def normalize_line_ends(content: bytes) -> bytes:
    """Every line ending in CRLF (bare LFs become CRLF), the last one included: what goes on the wire."""
    if b"\n" in content.replace(b"\r\n", b""):
        content = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if content and not content.endswith(b"\r\n"):
        content += b"\r\n"
    return content


def stuff(content: bytes) -> bytes:
    """CRLF line ends, a dot doubled at the start of any line, a final CRLF: ready for ``.`` (§4.5.2)."""
    stuffed = normalize_line_ends(content).replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed
