"""The one exception tree of maillab.

    MaillabError                    anything maillab raises on purpose
    ├── ConfigError                 bad input from a user: parameters, topology files, CLI values
    │   └── UnknownPolicyError      a retry policy or behaviour name that does not exist
    └── ProtocolError               an SMTP engine error (maillab.smtp)
        ├── LocalProtocolError      our own misuse of the engine: a bug, must crash
        └── RemoteProtocolError     the peer broke the protocol: a simulation outcome

Standard library only: ``maillab.smtp`` imports this module and must stay free of SimPy and I/O.
"""

from __future__ import annotations


class MaillabError(Exception):
    """Base class of every error maillab raises on purpose."""


class ConfigError(MaillabError, ValueError):
    """Bad input from a user: says where and what was expected."""


class UnknownPolicyError(ConfigError):
    """A retry policy or server behaviour name that does not exist."""


class ProtocolError(MaillabError):
    """An error in the SMTP engine."""


class LocalProtocolError(ProtocolError):
    """We misused the engine (an illegal event for our role and state): a bug."""


class RemoteProtocolError(ProtocolError):
    """The peer violated the protocol: recorded as an outcome, never a crash."""
