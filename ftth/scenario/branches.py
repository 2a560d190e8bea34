"""Names of the fibres of the tree, for faults: the feeder, a splitter output, an ONU's drop.

The tree has one feeder and ``len(tree.splitters)`` splitter stages.  Outputs are numbered
from 1 in each stage and a branch is named by the output numbers from the OLT side, joined
by dots:

* ``"feeder"`` — the fibre from the OLT to the first splitter (every ONU is behind it);
* ``"2"`` — the fibre leaving output 2 of the first stage (every ONU behind it);
* ``"2.5"`` — output 5 of the second-stage splitter fed by output 2, and so on; a name with
  one number per stage is one ONU's drop fibre.

ONUs are connected to the outputs in the order they are listed (``[onus]`` expands to
``first_id, first_id + 1, …``), filling the last stage first: with ``splitters = [4, 8]``
the 1st ONU listed sits on ``"1.1"``, the 8th on ``"1.8"``, the 9th on ``"2.1"``.  A fault
may also name the ONU (``onu = 17``) instead of its drop (the same fibre).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ftth.errors import InputError

#: The feeder's name in a fault's ``branch`` key.
FEEDER: Final = "feeder"

Port = tuple[int, ...]


def onu_ports(n_onus: int, splitters: Sequence[int]) -> list[Port]:
    """The splitter output of each ONU (by list position), one 1-based number per stage.

    Parameters
    ----------
    n_onus
        ONUs in listing order (at most the product of the stages).
    splitters
        The stages, OLT side first.

    Returns
    -------
    list of tuple of int
        ``ports[i]`` is the full branch of the ``i``-th ONU, e.g. ``(2, 1)`` for ``"2.1"``.
    """
    ports: list[Port] = []
    for index in range(n_onus):
        digits: list[int] = []
        rest = index
        for stage in reversed(list(splitters)):
            digits.append(rest % stage + 1)
            rest //= stage
        ports.append(tuple(reversed(digits)))
    return ports


def parse_branch(text: str, splitters: Sequence[int], where: str) -> Port:
    """``"feeder"`` → ``()``, ``"2.5"`` → ``(2, 5)``, checked against the stages.

    Raises
    ------
    InputError
        Not a branch of this tree (names the valid forms).
    """
    if text.strip() == FEEDER:
        return ()
    stages = list(splitters)
    example = ".".join("1" for _ in stages)
    parts = text.strip().split(".")
    if not all(p.isdigit() for p in parts) or len(parts) > len(stages):
        raise InputError(
            where,
            f"unknown branch {text!r}: use {FEEDER!r} or splitter outputs from the OLT side "
            f"joined by dots, one number per stage of tree.splitters {stages} "
            f'(e.g. "1" or "{example}")',
        )
    port = tuple(int(p) for p in parts)
    for depth, (number, stage) in enumerate(zip(port, stages, strict=False)):
        if not 1 <= number <= stage:
            raise InputError(
                where,
                f"unknown branch {text!r}: stage {depth + 1} is a 1:{stage} splitter, "
                f"its outputs are 1..{stage}",
            )
    return port


def branch_name(port: Port) -> str:
    """``()`` → ``"feeder"``, ``(2, 5)`` → ``"2.5"``."""
    return FEEDER if not port else ".".join(str(p) for p in port)


def behind(branch: Port, port: Port) -> bool:
    """True when an ONU on ``port`` is downstream of ``branch`` (the feeder: every ONU)."""
    return port[: len(branch)] == branch
