"""maillab.smtp: a sans-I/O RFC 5321 engine, in the manner of h11.

Bytes in, events out; events in, bytes out. Both roles: ``ServerConnection`` answers commands through a
``ServerPolicy`` (hooks with defaults), ``ClientConnection`` carries transactions and reports a result for
every recipient. Standard library only: no SimPy, asyncio or sockets, so the same engine runs inside the
simulated lab, over real sockets (``maillab.realnet``) and in memory (``ConnectionPair``).
"""

from maillab.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from maillab.smtp import replies
from maillab.smtp.client import (
    ClientConfig,
    ClientConnection,
    ClientTimeouts,
    RecipientResult,
    ServerReplied,
    SessionDone,
    Stage,
    Status,
    Transaction,
    TransactionDone,
    TransactionResult,
)
from maillab.smtp.commands import (
    Command,
    Data,
    Ehlo,
    Helo,
    Help,
    Mail,
    Noop,
    Quit,
    Rcpt,
    Rset,
    Vrfy,
    command_line,
    is_mailbox,
    parse_command,
)
from maillab.smtp.pair import ConnectionPair
from maillab.smtp.policy import DefaultPolicy, Envelope, ServerConfig, ServerPolicy, Session
from maillab.smtp.reader import stuff, unstuff
from maillab.smtp.replies import Reply, ReplyClass, ReplyParser
from maillab.smtp.server import (
    NEED_DATA,
    SEQUENCE_ERRORS,
    Closed,
    Greeted,
    MessageReceived,
    Replied,
    ServerConnection,
    ServerState,
)

__all__ = [
    "NEED_DATA", "SEQUENCE_ERRORS", "ClientConfig", "ClientConnection", "ClientTimeouts", "Closed", "Command",
    "ConnectionPair", "Data", "DefaultPolicy", "Ehlo", "Envelope", "Greeted", "Helo", "Help",
    "LocalProtocolError", "Mail", "MessageReceived", "Noop", "ProtocolError", "Quit", "Rcpt",
    "RecipientResult", "RemoteProtocolError", "Replied", "Reply", "ReplyClass", "ReplyParser", "Rset",
    "ServerConfig", "ServerConnection", "ServerPolicy", "ServerReplied", "ServerState", "Session",
    "SessionDone", "Stage", "Status", "Transaction", "TransactionDone", "TransactionResult", "Vrfy",
    "command_line", "is_mailbox", "parse_command", "replies", "stuff", "unstuff",
]
