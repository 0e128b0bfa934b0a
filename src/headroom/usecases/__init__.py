"""Use cases: what a person asks headroom to do, whole (run a playbook and record it, check a
playbook), each a function that takes parsed input and returns a typed result.

The command line, the web app and the ingest API parse their input, call one of these and
present what it returns; the work itself (sources, signals, triggers, the state store,
delivery) is done by the packages beneath, which never import this one.
"""

from collections.abc import Callable

from headroom.sources import Source

#: How a use case loads a source: :func:`headroom.sources.load`'s signature (an adapter may
#: pass its own, drawing the steps as the command line does on a terminal).
Loader = Callable[..., Source]
