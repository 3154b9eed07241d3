"""maillab.lab: a whole lab — hosts, links, domains, load and failures — and its result tables."""

from maillab.lab.failures import FAILURE_KINDS, Failure
from maillab.lab.lab import Lab, Streams
from maillab.lab.tables import ConservationError

__all__ = ["FAILURE_KINDS", "ConservationError", "Failure", "Lab", "Streams"]
