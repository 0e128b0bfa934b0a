"""Which accounts a trigger holds out: a draw anyone can repeat and nobody can steer.

An account is held out of a trigger's plays when the hash of (experiment, trigger, account)
falls under the trigger's holdout share. The hash is SHA-256 (the first 8 bytes as a number
from 0 to 1), so the draw is the same on every run, engine and machine, and can be audited
from the three names alone; the experiment's name is the salt, so a new experiment draws
afresh. An account keeps the arm it was first given, even if the share changes later (see
:class:`headroom.triggers.decisions.History`): changing the split moves only accounts drawn
from then on.

>>> drawn("teamflow", "seat_expansion_proactive", "acc_00042", 0.1)
'treated'
>>> sum(drawn("e", "t", f"a{i}", 0.1) == "held_out" for i in range(10_000))
943
"""

from __future__ import annotations

import hashlib
from typing import Literal

Arm = Literal["treated", "held_out"]


def draw(experiment: str, trigger: str, account_id: str) -> float:
    """The account's number from 0 (inclusive) to 1 for the trigger in the experiment."""
    key = "\x1f".join((experiment, trigger, account_id)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64


def drawn(experiment: str, trigger: str, account_id: str, share: float) -> Arm:
    """``held_out`` when the account's number is under ``share``, else ``treated``."""
    return "held_out" if draw(experiment, trigger, account_id) < share else "treated"
