"""Cutting a byte stream into SMTP command lines and message content.

Command lines end in CRLF and are at most 512 octets with it (RFC 5321 §4.5.3.1.4). Content ends with a
line holding only ``.``; a leading dot is removed from every other line that has one (dot-stuffing, §4.5.2).
Only CRLF ends a line: ``<LF>.<LF>`` never ends the content (§4.1.1.4; the "SMTP smuggling" case).
Nothing here raises on bad input: every defect comes back as a flag for the server to answer.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

MAX_COMMAND_LINE = 512  # §4.5.3.1.4, CRLF included
MAX_TEXT_LINE = 1000  # §4.5.3.1.6, CRLF included
_END_OF_DATA = b"\r\n.\r\n"
_NUL, _CR = 0x00, 0x0D


class LineDefect(Enum):
    NONE = "none"
    TOO_LONG = "too long"
    BAD_CHARACTER = "NUL or 8-bit"


# Members as module globals: on Python 3.11 ``LineDefect.NONE`` goes through EnumType.__getattr__ (slow).
_NO_DEFECT, _TOO_LONG, _BAD_CHARACTER = LineDefect.NONE, LineDefect.TOO_LONG, LineDefect.BAD_CHARACTER


#: One command line as read: its text (without the line end), what is wrong with its characters or length,
#: if anything, and whether it ended in a bare LF instead of CRLF. A plain tuple: one is built per command.
CommandLine = tuple[str, LineDefect, bool]


class Content(NamedTuple):
    """The message content after un-stuffing, with what was wrong with it (a NamedTuple: one per message,
    read once by the server; cheaper to build than a frozen dataclass)."""

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
        bare_lf = end == 0 or buffer[end - 1] != _CR
        body = buffer[: end if bare_lf else end - 1]
        del buffer[: end + 1]
        if self._discarding or end + 1 > self.max_line:
            self._discarding = False
            return "", _TOO_LONG, bare_lf
        # Fast path: a command line is ASCII without NUL or CR; three C-level checks say so without a loop
        # (an int operand: ``b"\0" in body`` goes through the buffer protocol and costs ten times as much).
        if body.isascii() and _NUL not in body and _CR not in body:
            return body.decode("ascii"), _NO_DEFECT, bare_lf
        return body.decode("latin-1"), _BAD_CHARACTER, bare_lf


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
        return Content(data, size, size > self.max_size, _has_long_line(data))


def _has_long_line(data: bytes) -> bool:
    """Whether a line of ``data`` is longer than 1000 octets with its CRLF (RFC 5321 §4.5.3.1.6).

    Without splitting the content into lines: from a line start, the last CRLF within 998 octets ends
    every line that starts before it, so the scan jumps past it; no such CRLF means a line too long."""
    limit = MAX_TEXT_LINE - 2  # octets before the CRLF
    start = 0
    while len(data) - start > limit:
        end = data.rfind(b"\r\n", start, start + limit + 2)
        if end < 0:
            return True
        start = end + 2
    return False


def unstuff(stuffed: bytes) -> bytes:
    """Remove one leading dot from each line that starts with one (RFC 5321 §4.5.2, receiver side)."""
    data = stuffed.replace(b"\r\n.", b"\r\n")
    return data[1:] if data.startswith(b".") else data


def normalize_line_ends(content: bytes) -> bytes:
    """Every line ending in CRLF (bare LFs become CRLF), the last one included: what goes on the wire."""
    # Counting copies nothing: there is a bare LF exactly when some LF is not part of a CRLF.
    if content.count(b"\n") != content.count(b"\r\n"):
        content = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if content and not content.endswith(b"\r\n"):
        content += b"\r\n"
    return content


def stuff(content: bytes) -> bytes:
    """CRLF line ends, a dot doubled at the start of any line, a final CRLF: ready for ``.`` (§4.5.2)."""
    return double_dots(normalize_line_ends(content))


def double_dots(normalized: bytes) -> bytes:
    """``stuff`` for content already through ``normalize_line_ends`` (the client normalises once)."""
    stuffed = normalized.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed
