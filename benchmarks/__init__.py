"""Speed and memory benchmarks: ``make bench`` or ``python -m benchmarks [NAME ...]``.

Each benchmark reports ratios measured within one run (against a baseline it also measures), so
its figures compare across machines; absolute seconds are printed for the record.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_mb() -> float:
    """This process's peak resident memory in MB.

    Read from ``VmHWM``, the high-water mark of the process's own memory: ``ru_maxrss`` is kept
    across ``exec``, so a child started by a parent that had grown large reports the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: not Linux
