"""What every figure of ftth shares: the headless backend and saving PNG + SVG with
byte-stable metadata (no date, no software version).

matplotlib is imported on first use only, so commands without plots never pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftth.errors import InputError


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


#: Colours of a passing and a failing item (bars of households, cells).
PASS_COLOUR = "tab:green"
FAIL_COLOUR = "tab:red"


def verdict_colour(passed: bool) -> str:
    """:data:`PASS_COLOUR` or :data:`FAIL_COLOUR`."""
    return PASS_COLOUR if passed else FAIL_COLOUR


def verdict_legend_handles(alpha: float = 1.0) -> list[Any]:
    """Legend entries saying what the pass / fail colours mean."""
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=PASS_COLOUR, alpha=alpha, label="passes"),
        Patch(facecolor=FAIL_COLOUR, alpha=alpha, label="fails"),
    ]


def save(fig: Any, stem: Path, creator: str) -> list[Path]:
    """Write ``stem.png`` (100 dpi) and ``stem.svg``; the same figure gives the same bytes."""
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    try:
        fig.savefig(png, dpi=100, metadata={"Software": None, "Creator": creator})
        fig.savefig(svg, metadata={"Date": None, "Creator": creator})
    except OSError as exc:
        raise InputError(str(stem.parent), f"cannot write plot: {exc.strerror or exc}") from None
    return [png, svg]
