"""maillab.realnet: the sans-I/O SMTP engine over real asyncio sockets.

- ``serve_smtp(host, port, domain, users, maildir)``: an SMTP server that is the final destination of one
  domain and stores mail in Maildir folders (``SmtpServer``; ``SmtpdThread`` runs it in a background thread).
- ``send_smtp(host, port, sender, recipients, content)``: deliver one message, get a ``TransactionResult``
  with a reply per recipient; ``SmtpConnectError`` when no connection could be opened.

This is what ``maillab smtpd`` and ``maillab send`` run. Library code logs (``logging``); it never prints.
"""

from maillab.realnet.client import SmtpConnectError, Transcript, send_smtp, to_crlf
from maillab.realnet.endpoint import Endpoint, parse_endpoint
from maillab.realnet.maildir import MaildirStore, trace_headers
from maillab.realnet.policy import LocalDomainPolicy
from maillab.realnet.server import IDLE_TIMEOUT, SmtpServer, idle_timeout_reply, serve_smtp, shutdown_reply
from maillab.realnet.thread import SmtpdThread

__all__ = [
    "IDLE_TIMEOUT", "Endpoint", "LocalDomainPolicy", "MaildirStore", "SmtpConnectError", "SmtpServer",
    "SmtpdThread", "Transcript", "idle_timeout_reply", "parse_endpoint", "send_smtp", "serve_smtp",
    "shutdown_reply", "to_crlf", "trace_headers",
]
