"""SMTP commands as values: parsing a command line (server side) and writing one (client side).

Syntax: RFC 5321 §4.1.1 (commands), §4.1.2 (paths and mailboxes), §4.5.3.1 (size limits).
A line that cannot be parsed yields a ``Reply`` saying why, never an exception: a peer's bad input is an
outcome to answer, not a crash.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from maillab.smtp import replies as R
from maillab.smtp.caching import BoundedCache
from maillab.smtp.replies import Reply

MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_DOMAIN = 255  # §4.5.3.1.2
MAX_PATH = 256  # §4.5.3.1.3

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"^{_ATOM}(\.{_ATOM})*$")
_QUOTED = re.compile(r'^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$')
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")
_ADDRESS_LITERAL = re.compile(r"^\[(IPv6:[0-9A-Fa-f:.]+|\d{1,3}(\.\d{1,3}){3})\]$")
_ESMTP_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
#: Dot-atom ``@`` domain in one match: the usual mailbox (RFC 5321 §4.1.2); is_mailbox checks the rest.
_COMMON_MAILBOX = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.?")

#: Verbs that exist in RFC 5321 or common extensions but that this engine does not implement: 502, not 500.
NOT_IMPLEMENTED_VERBS = frozenset({"EXPN", "TURN", "ETRN", "AUTH", "STARTTLS", "BDAT", "ATRN", "SEND", "SOML", "SAML"})

Params = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Ehlo:
    domain: str


@dataclass(frozen=True, slots=True)
class Helo:
    domain: str


@dataclass(frozen=True, slots=True)
class Mail:
    """``MAIL FROM:<sender> [params]``; the null reverse-path ``<>`` is the empty string."""

    sender: str
    params: Params = field(default=())

    def param(self, name: str) -> str | None:
        """The parameter's value; None when it is absent or has no value (see ``has_param``)."""
        name = name.upper()
        for key, value in self.params:  # a loop, not a generator: there are one or two parameters
            if key == name:
                return value
        return None

    def has_param(self, name: str) -> bool:
        name = name.upper()
        for key, _ in self.params:
            if key == name:
                return True
        return False


@dataclass(frozen=True, slots=True)
class Rcpt:
    recipient: str
    params: Params = field(default=())


@dataclass(frozen=True, slots=True)
class Data:
    pass


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    text: str = ""


@dataclass(frozen=True, slots=True)
class Vrfy:
    address: str


@dataclass(frozen=True, slots=True)
class Help:
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = Ehlo | Helo | Mail | Rcpt | Data | Rset | Noop | Vrfy | Help | Quit


def verb_of(command: Command) -> str:
    """The command's verb as sent on the wire (``MAIL``, ``RCPT`` …)."""
    return type(command).__name__.upper()


# --- writing (client side) ---------------------------------------------------------------------------------

def format_params(params: Params) -> str:
    if not params:
        return ""
    return "".join([f" {key}" if value is None else f" {key}={value}" for key, value in params])


def command_line(command: Command) -> bytes:
    """The command as one CRLF-terminated line (RFC 5321 §4.1.1)."""
    fixed = _FIXED_LINES.get(type(command))
    if fixed is not None:
        return fixed  # fast path: DATA, RSET and QUIT are always the same bytes
    match command:  # most frequent first: each case is one more isinstance test
        case Rcpt(recipient, params):
            text = f"RCPT TO:<{recipient}>{format_params(params)}"
        case Mail(sender, params):
            text = f"MAIL FROM:<{sender}>{format_params(params)}"
        case Ehlo(domain) | Helo(domain):
            text = f"{verb_of(command)} {domain}"
        case Vrfy(address):
            text = f"VRFY {address}"
        case Noop(text=t) | Help(topic=t):
            text = f"{verb_of(command)} {t}".rstrip()
        case _:
            text = verb_of(command)
    return text.encode("ascii") + b"\r\n"


_FIXED_LINES: dict[type, bytes] = {Data: b"DATA\r\n", Rset: b"RSET\r\n", Quit: b"QUIT\r\n"}


# --- parsing (server side) ---------------------------------------------------------------------------------

def parse_command(line: str) -> Command | Reply:
    """Parse one command line (without CRLF) into a command, or the reply that rejects it."""
    known = _PARSED.get(line)
    if known is not None:
        return known  # fast path: lines repeat (EHLO, DATA, the same mailboxes) and the results are immutable
    return _PARSED.remember(line, _parse_line(line))


def _parse_line(line: str) -> Command | Reply:
    verb, _, argument = line.partition(" ")
    verb = verb.upper()
    argument = argument.strip(" ")
    parser = _PARSERS.get(verb)
    if parser is not None:
        return parser(argument)
    if verb in NOT_IMPLEMENTED_VERBS:
        return R.NOT_IMPLEMENTED
    return R.UNRECOGNIZED


def _parse_ehlo(argument: str) -> Command | Reply:
    return Ehlo(argument) if _is_hello_name(argument) else R.SYNTAX_EHLO


def _parse_helo(argument: str) -> Command | Reply:
    return Helo(argument) if _is_hello_name(argument) else R.SYNTAX_HELO


def _is_hello_name(argument: str) -> bool:
    return bool(argument) and " " not in argument and (
        _DOMAIN.match(argument) is not None or _ADDRESS_LITERAL.match(argument) is not None
    )


def _parse_mail(argument: str) -> Command | Reply:
    parsed = _parse_path_argument(argument, "FROM:", allow_null=True)
    if parsed is None:
        return R.SYNTAX_MAIL
    return parsed if isinstance(parsed, Reply) else Mail(*parsed)


def _parse_rcpt(argument: str) -> Command | Reply:
    parsed = _parse_path_argument(argument, "TO:", allow_null=False)
    if parsed is None:
        return R.SYNTAX_RCPT
    return parsed if isinstance(parsed, Reply) else Rcpt(*parsed)


def _no_argument(command: Command) -> Callable[[str], Command | Reply]:
    """A parser for a command without arguments: every one is alike, so one instance serves all."""

    def parse(argument: str) -> Command | Reply:
        return R.NO_ARGUMENTS if argument else command

    return parse


def _parse_vrfy(argument: str) -> Command | Reply:
    return Vrfy(argument) if argument else R.SYNTAX_VRFY


_PARSERS: dict[str, Callable[[str], Command | Reply]] = {
    "EHLO": _parse_ehlo,
    "HELO": _parse_helo,
    "MAIL": _parse_mail,
    "RCPT": _parse_rcpt,
    "DATA": _no_argument(Data()),
    "RSET": _no_argument(Rset()),
    "QUIT": _no_argument(Quit()),
    "NOOP": lambda argument: Noop(argument),
    "HELP": lambda argument: Help(argument),
    "VRFY": _parse_vrfy,
}

#: Parsed command lines by their text (bounded): the same line always parses to the same value.
_PARSED: BoundedCache[str, Command | Reply] = BoundedCache(1024)


def _parse_path_argument(argument: str, keyword: str, allow_null: bool) -> tuple[str, Params] | Reply | None:
    """None when the keyword is missing; otherwise the path and parameters, or the reply rejecting them.
    ``FROM:<path> params`` / ``TO:<path> params`` (RFC 5321 §4.1.1.2-3; a space after the colon is
    tolerated, as Postfix does with strict_rfc821_envelopes=no)."""
    if not argument.upper().startswith(keyword):
        return None
    rest = argument[len(keyword):].lstrip(" ")
    if not rest:
        return None  # no path at all: a syntax error (the null path is written <>)
    if rest.startswith("<"):
        end = _closing_bracket(rest)
        if end < 0:
            return R.BAD_ADDRESS
        path, tail = rest[1:end], rest[end + 1:]
    else:
        path, _, tail = rest.partition(" ")
        tail = " " + tail if tail else ""
    if tail and not tail.startswith(" "):
        return R.BAD_ADDRESS
    params = _parse_params(tail)
    if isinstance(params, Reply):
        return params
    address = _check_path(path, allow_null)
    return address if isinstance(address, Reply) else (address, params)


def _closing_bracket(text: str) -> int:
    """Index of the ``>`` that closes the path, skipping quoted strings (a quoted local part may hold one)."""
    if '"' not in text:
        return text.find(">")  # fast path: nothing is quoted, so the first ``>`` closes the path
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return index
    return -1


def _parse_params(tail: str) -> Params | Reply:
    """ESMTP parameters ``KEY[=VALUE]`` separated by spaces (RFC 5321 §4.1.2 Mail-parameters)."""
    params: list[tuple[str, str | None]] = []
    for item in tail.split():
        key, eq, value = item.partition("=")
        if not _ESMTP_KEYWORD.match(key) or (eq and not value):
            return R.UNSUPPORTED_PARAMETER
        params.append((key.upper(), value if eq else None))
    return tuple(params)


def _check_path(path: str, allow_null: bool) -> str | Reply:
    """Validate a path and return the mailbox, with any source route dropped (RFC 5321 §4.1.2, C.)."""
    if len(path) + 2 > MAX_PATH:
        return R.PATH_TOO_LONG
    if path == "":
        return "" if allow_null else R.BAD_ADDRESS
    if path.startswith("@"):
        _, colon, path = path.partition(":")
        if not colon:
            return R.BAD_ADDRESS
    if path.lower() == "postmaster" and not allow_null:
        return path  # RFC 5321 §4.5.1: <Postmaster> without a domain must be accepted
    return path if is_mailbox(path) else R.BAD_ADDRESS


def is_mailbox(address: str) -> bool:
    """``local-part@domain`` within the RFC 5321 §4.1.2 grammar and §4.5.3.1 length limits."""
    if len(address) <= MAX_LOCAL_PART + 1 and _COMMON_MAILBOX.fullmatch(address) is not None:
        return True  # fast path: a short dot-atom@domain has both parts within their limits
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return False
    if len(local) > MAX_LOCAL_PART or len(domain) > MAX_DOMAIN:
        return False
    local_ok = _DOT_ATOM.match(local) is not None or _QUOTED.match(local) is not None
    domain_ok = _DOMAIN.match(domain) is not None or _ADDRESS_LITERAL.match(domain) is not None
    return local_ok and domain_ok
