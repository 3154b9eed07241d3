"""Records and small value types of the network substrate (frozen, slotted, no behaviour)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConnOutcome(enum.Enum):
    """What happened to a connection, as written to ``Network.connection_log``."""

    OPENED = "opened"        # the client's connect() returned (SYN-ACK arrived)
    REFUSED = "refused"      # RST arrived at the client: nothing listening
    TIMED_OUT = "timed_out"  # connect timeout expired with no answer
    CLOSED = "closed"        # both sides have called close()
    RESET = "reset"          # link or node failure, crash, listener gone, abort()


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One connection event: one row of a tidy table (``pd.DataFrame(network.connection_log)``)."""

    time: float
    id: str
    src: str
    dst: str
    port: int
    outcome: ConnOutcome
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Peer:
    """One end of a connection: host name, address and port."""

    host: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}[{self.address}]:{self.port}"
