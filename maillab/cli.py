"""The ``maillab`` command line: one small table of subcommands, one way of failing.

Each subcommand is a ``Subcommand`` row in ``SUBCOMMANDS``: its name, a one-line help, a function adding
its arguments and a function running it (returning the exit status). Later commands (``run``, ``validate``,
``plot``, ``sweep``, ``demo`` …) are one more row each; their heavy imports stay inside their run function,
so ``maillab --help`` stays fast.

Exit status, the same for every subcommand:
    0  success
    1  internal error: a short message, and a hint to rerun with --debug for the traceback
    2  bad input: a one-line message naming what was wrong (an option, a file, an address in use)
    3  (send) the message was not delivered to every recipient, or no connection could be made
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import NoReturn

from maillab.errors import ConfigError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_UNDELIVERED = 3

log = logging.getLogger(__name__)


# --- the table -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str = ""
    log_level: int = logging.WARNING  # what the library logs to stderr while it runs (--debug: everything)


def _smtpd_subcommand() -> Subcommand:
    return Subcommand("smtpd", "run an SMTP server that stores mail for one domain in Maildir folders",
                      _smtpd_arguments, _run_smtpd, SMTPD_EPILOG, logging.INFO)


def _send_subcommand() -> Subcommand:
    return Subcommand("send", "send one message to an SMTP server and report each recipient's fate",
                      _send_arguments, _run_send, SEND_EPILOG)


def _demo_subcommand() -> Subcommand:
    return Subcommand("demo", "run the demo lab: print a summary, write tables, mailboxes and plots",
                      _demo_arguments, _run_demo, DEMO_EPILOG)


def _lab_subcommands() -> tuple[Subcommand, ...]:
    from maillab import cli_lab as L

    return (
        Subcommand("run", "run a lab file: progress, a summary table, and (with --out) tables, mailboxes, plots",
                   L.add_run_arguments, L.run_run, RUN_EPILOG),
        Subcommand("validate", "check a lab file and say what it holds", L.add_file_argument, L.run_validate),
        Subcommand("list", "list the shipped labs with their one-line descriptions", L.add_no_arguments,
                   L.run_list),
        Subcommand("schema", "print the JSON Schema of lab files (for editors)", L.add_no_arguments, L.run_schema),
        Subcommand("transcript", "print SMTP dialogues from a run's output as a telnet user would see them",
                   L.add_transcript_arguments, L.run_transcript),
    )


RUN_EPILOG = """\
examples:
  maillab run classic --out out               a shipped lab by name
  maillab run my-lab.yaml --set lab.seed=7 --set hosts.mx.b.example.retry=exim --until 6h
  maillab transcript out --message m000001.s1@maillab
"""


def _plot_subcommand() -> Subcommand:
    from maillab import cli_plot as P

    return Subcommand("plot", "draw a run's figures as PNG from the CSVs 'maillab run --out' wrote",
                      P.add_plot_arguments, P.run_plot, P.PLOT_EPILOG)


def _sweep_subcommand() -> Subcommand:
    from maillab import cli_sweep as S

    return Subcommand("sweep", "run a lab file over a grid of parameters with replications, on Dask",
                      S.add_sweep_arguments, S.run_sweep, S.SWEEP_EPILOG)


def subcommands() -> tuple[Subcommand, ...]:
    """Every subcommand, in the order ``--help`` lists them. Add a row here for a new one."""
    return (_demo_subcommand(), *_lab_subcommands(), _plot_subcommand(), _sweep_subcommand(), _smtpd_subcommand(),
            _send_subcommand())


# --- parsing and the failure policy ----------------------------------------------------------------------

class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("maillab")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="maillab", description="A lab of mail hosts that speak real RFC 5321 SMTP.",
                     epilog=EXIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"maillab {_version()}")
    parser.add_argument("--debug", action="store_true", help="log everything and show tracebacks")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="log everything and show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for sub in subcommands():
        child = commands.add_parser(sub.name, help=sub.help, description=sub.help[0].upper() + sub.help[1:] + ".",
                                    epilog=sub.epilog, parents=[common],
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_arguments(child)
        child.set_defaults(subcommand=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (never raises, never prints a traceback unasked)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    sub: Subcommand | None = getattr(args, "subcommand", None)
    if sub is None:
        names = ", ".join(s.name for s in subcommands())
        print(f"maillab: error: choose a command ({names}); see 'maillab --help'", file=sys.stderr)
        return EXIT_USAGE
    with _stderr_logging(logging.DEBUG if args.debug else sub.log_level):
        return _run(sub, args)


def _run(sub: Subcommand, args: argparse.Namespace) -> int:
    prog = f"maillab {sub.name}"
    try:
        return sub.run(args)
    except (ConfigError, UsageError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else "; rerun with --debug for the traceback"
        print(f"{prog}: internal error: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return EXIT_INTERNAL


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (so tests capturing stderr see the log)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _stderr_logging(level: int) -> Iterator[None]:
    """Library log records at ``level`` and above go to stderr while a subcommand runs."""
    logger = logging.getLogger("maillab")
    handler = _StderrHandler(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, old_level) if old_level else level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _endpoint_type(default_port: int | None, allow_zero: bool) -> Callable[[str], object]:
    from maillab.realnet.endpoint import parse_endpoint

    def parse(value: str) -> object:
        try:
            return parse_endpoint(value, default_port=default_port, allow_zero=allow_zero)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def _positive_number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
    return number


def _size(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of bytes (0 = no limit)")
    return int(value)


# --- maillab demo ----------------------------------------------------------------------------------------

DEMO_EPILOG = """\
The demo lab: a.example sends about 120 messages over two hours to b.example (whose primary MX is down
for 90 minutes, so its backup MX queues), c.example (greylisting) and d.example (which knows only some of
the addressed users, so some mail bounces). Postfix's retry schedule throughout.

example:
  maillab demo --out maillab-demo --seed 2
"""


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("maillab-demo"),
                        help="directory for tables, mailboxes and plots (default: maillab-demo)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--messages", type=_positive_int, default=120, help="messages to send (default: 120)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def _run_demo(args: argparse.Namespace) -> int:
    from maillab.lab.demo import build_demo
    from maillab.lab.progress import run_with_progress
    from maillab.lab.report import summary_table, write_results

    lab = build_demo(seed=args.seed, messages=args.messages)
    print(f"maillab demo: 5 hosts, 4 domains, {args.messages} messages over 2 h, seed {args.seed}; "
          "mx1.b.example is down from 0:15 to 1:45")
    run_with_progress(lab, until=86400.0, show=False if args.quiet else None)
    lab.check_conservation()
    print("\nsummary after one simulated day:")
    print(summary_table(lab))
    written = write_results(lab, args.out, plots=not args.no_plots)
    print(f"\nwrote {args.out}/: " + " ".join(p.name + ("/" if p.is_dir() else "") for p in written))
    if not args.no_plots:
        print(f"look first at {args.out / 'retry_timeline.png'}: every attempt of every message, the outage shaded")
    print("next: 'maillab list' shows the shipped labs; 'maillab run backup-mx --out out --plots' runs one")
    return EXIT_OK


# --- maillab smtpd ---------------------------------------------------------------------------------------

SMTPD_EPILOG = """\
Mail for --domain is stored in DIR/<user>/ (a Maildir: new/, cur/, tmp/), with Return-Path: and
Received: headers added. Without --user, every local-part of the domain exists (letters, digits, . _ + -);
with --user, only those (and postmaster) do; others get 550 5.1.1. Mail for any other domain gets
554 5.7.1 relay access denied. One log line per session and per message goes to stderr.

example:
  maillab smtpd --listen 127.0.0.1:2525 --domain example.test --user alice --maildir ./mail
  telnet 127.0.0.1 2525

exit status: 0 stopped with Ctrl-C (or SIGTERM), 2 bad option or address unusable, 1 internal error.
"""


def _smtpd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", metavar="HOST:PORT", type=_endpoint_type(None, allow_zero=True),
                        default="127.0.0.1:2525", help="address to listen on (default 127.0.0.1:2525; port 0: any)")
    parser.add_argument("--domain", required=True, help="the mail domain this server is the destination of")
    parser.add_argument("--user", dest="users", metavar="USER", action="append",
                        help="a local user (repeat for more); default: any local-part exists")
    parser.add_argument("--maildir", metavar="DIR", required=True, type=Path, help="where mailboxes are kept")
    parser.add_argument("--hostname", help="name in the greeting and Received: headers (default: the domain)")
    parser.add_argument("--max-size", metavar="BYTES", type=_size, default=10_240_000,
                        help="largest message accepted, advertised as SIZE (default 10240000; 0 = no limit)")
    parser.add_argument("--idle-timeout", metavar="SECONDS", type=_positive_number, default=300.0,
                        help="hang up (421) on a client silent this long (default 300, RFC 5321 §4.5.3.2.7)")


def _run_smtpd(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_smtpd(args))
    except KeyboardInterrupt:
        pass
    print("maillab smtpd: stopped", file=sys.stderr)
    return EXIT_OK


async def _smtpd(args: argparse.Namespace) -> None:
    from maillab.realnet import serve_smtp

    server = await serve_smtp(args.listen.host, args.listen.port, args.domain, args.users, args.maildir,
                              hostname=args.hostname, max_message_size=args.max_size,
                              idle_timeout=args.idle_timeout)
    where = server.address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(where.host, where.host)
    who = ", ".join(sorted(set(u.lower() for u in args.users))) if args.users else "any user"
    print(f"maillab smtpd: listening on {where} for @{args.domain.lower()} ({who}), mail in {args.maildir}; "
          f"try: telnet {host} {where.port}   (Ctrl-C to stop)", flush=True)
    stop = asyncio.Event()
    with _stop_signals(stop):
        async with server:
            serving, stopping = asyncio.create_task(server.serve_forever()), asyncio.create_task(stop.wait())
            await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in (serving, stopping):
                task.cancel()


@contextlib.contextmanager
def _stop_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM set ``stop``, however often they come, so shutdown is always orderly."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


# --- maillab send ----------------------------------------------------------------------------------------

SEND_EPILOG = """\
FILE is the message (use - for stdin). If it has no header block, From/To/Subject/Date/Message-ID are
added. One line per recipient is printed:  STATUS  RECIPIENT  CODE ENHANCED TEXT
where STATUS is accepted, temporary (4xx: try again later) or permanent (5xx: give up).

example:
  echo 'Hello Alice' | maillab send --server 127.0.0.1:2525 --from bob@example.org \\
      --to alice@example.test --subject hi --transcript -

exit status:
  0  every recipient accepted
  2  bad input: an option, an address, an unreadable FILE
  3  not delivered to every recipient: some were refused, or no connection could be made
  1  internal error (rerun with --debug for the traceback)
"""

_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")


def _send_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="HOST:PORT", type=_endpoint_type(25, allow_zero=False),
                        default="127.0.0.1:2525", help="SMTP server (default 127.0.0.1:2525; port default 25)")
    parser.add_argument("--from", dest="sender", metavar="ADDRESS", required=True,
                        help="envelope sender (MAIL FROM); '' or '<>' for the null sender")
    parser.add_argument("--to", dest="recipients", metavar="ADDRESS", action="append", required=True,
                        help="envelope recipient (RCPT TO); repeat for more")
    parser.add_argument("--pipelining", choices=("auto", "off"), default="auto",
                        help="pipeline MAIL/RCPT/DATA when the server offers it (auto, default) or never (off)")
    parser.add_argument("--subject", default="maillab test message",
                        help="Subject: of the headers added to a FILE without headers")
    parser.add_argument("--helo", default="localhost", help="name to give in EHLO (default localhost)")
    parser.add_argument("--timeout", metavar="SECONDS", type=_positive_number,
                        help="wait at most this long to connect and for each reply (default: RFC 5321 values)")
    parser.add_argument("--transcript", action="store_true", help="print the whole SMTP dialogue (C:/S: lines)")
    parser.add_argument("--transcript-lines", metavar="N", type=int, default=20,
                        help="with --transcript, show at most N message lines (default 20)")
    parser.add_argument("file", metavar="FILE", help="the message file, or - for stdin")


def _run_send(args: argparse.Namespace) -> int:
    from maillab.realnet import SmtpConnectError, send_smtp
    from maillab.smtp import ClientTimeouts, Status

    sender = _address(args.sender, "--from", allow_null=True)
    recipients = [_address(r, "--to", allow_null=False) for r in args.recipients]
    content = _message(_read_file(args.file), sender, recipients, args.subject, args.helo)
    printer = TranscriptPrinter(args.transcript_lines) if args.transcript else None
    timeouts = ClientTimeouts(**{f.name: args.timeout for f in fields(ClientTimeouts)}) if args.timeout else None
    try:
        result = asyncio.run(send_smtp(args.server.host, args.server.port, sender, recipients, content,
                                       pipelining=args.pipelining, helo_name=args.helo, transcript=printer,
                                       timeouts=timeouts, connect_timeout=args.timeout or 30.0))
    except SmtpConnectError as exc:
        print(f"maillab send: {exc}; nothing was sent", file=sys.stderr)
        return EXIT_UNDELIVERED
    for rcpt in result.recipients:
        print(f"{rcpt.status.value:<9}  {rcpt.recipient}  {rcpt.reply}")
    if result.duplicate_window:
        print("maillab send: note: the connection failed after the final dot, before the reply: the server may "
              "have the message already, and a resend may deliver it twice (RFC 1047)", file=sys.stderr)
    delivered = all(r.status is Status.ACCEPTED for r in result.recipients)
    return EXIT_OK if delivered else EXIT_UNDELIVERED


def _address(value: str, option: str, allow_null: bool) -> str:
    from maillab.smtp import is_mailbox

    address = value.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    if address == "" and allow_null:
        return address
    if not is_mailbox(address):
        raise UsageError(f"{option} {value!r}: not a mail address (expected local-part@domain, e.g. bob@example.test)")
    return address


def _read_file(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read message file {name!r}: {(exc.strerror or str(exc)).lower()}") from None


def has_header_block(content: bytes) -> bool:
    """True when the message starts with a header field (``Name: value``, RFC 5322 §2.2)."""
    return _HEADER_LINE.match(content) is not None


def _message(content: bytes, sender: str, recipients: list[str], subject: str, helo: str) -> bytes:
    """The content as is when it has headers; otherwise wrapped with From/To/Subject/Date/Message-ID."""
    if has_header_block(content):
        return content
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("FILE has no header block and is not UTF-8 text; give it headers to send it as is") from None
    domain = sender.rpartition("@")[2] or helo
    message = EmailMessage()
    message["From"] = sender or f"MAILER-DAEMON@{helo}"
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    return message.as_bytes(policy=SMTP)


class TranscriptPrinter:
    """Prints the dialogue as ``C: …`` / ``S: …`` lines, showing at most ``limit`` lines of message content."""

    def __init__(self, limit: int = 20, out: Callable[[str], None] | None = None) -> None:
        self.limit = max(0, limit)
        self.out = out or (lambda text: print(text, flush=True))
        self.in_content = False
        self.shown = self.hidden = 0

    def __call__(self, side: str, line: bytes) -> None:
        text = f"{side}: {line.decode('utf-8', 'replace')}"
        if side == "S":
            self.in_content = line.startswith(b"354")
            self.shown = self.hidden = 0
            self.out(text)
        elif not self.in_content:
            self.out(text)
        elif line == b".":
            if self.hidden:
                self.out(f"C: [... {self.hidden} more message lines not shown; see --transcript-lines]")
            self.in_content = False
            self.out(text)
        elif self.shown < self.limit:
            self.shown += 1
            self.out(text)
        else:
            self.hidden += 1


EXIT_EPILOG = """\
commands' exit status: 0 success, 2 bad input (one line saying what), 3 (send) not delivered to every
recipient, 1 internal error (rerun with --debug for the traceback).
"""
