"""What every figure of ftth shares: the headless backend and saving PNG + SVG with
byte-stable metadata (no date, no software version), plus the figures of ``ftth run --plot``.

matplotlib is imported on first use only, so commands without plots never pay for it.
Figures are written through :func:`ftth.output.atomic_path`: a reader never sees half a PNG,
and an interrupted command leaves the previous figure in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ftth.errors import InputError
from ftth.output import atomic_path, output_dir
from ftth.units import PS_PER_MS

#: Stems of the figures ``ftth run --plot DIR`` writes (each as .png and .svg).
RUN_PLOT_NAMES = ("run-throughput", "run-delay-cdf")


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
        with atomic_path(png) as temp:
            fig.savefig(
                temp, format="png", dpi=100, metadata={"Software": None, "Creator": creator}
            )
        with atomic_path(svg) as temp:
            fig.savefig(temp, format="svg", metadata={"Date": None, "Creator": creator})
    except OSError as exc:
        raise InputError(str(stem.parent), f"cannot write plot: {exc.strerror or exc}") from None
    return [png, svg]


def plot_file_names(stems: tuple[str, ...]) -> tuple[str, ...]:
    """The files written for figure ``stems`` (``.png`` and ``.svg`` of each)."""
    return tuple(f"{stem}{ext}" for stem in stems for ext in (".png", ".svg"))


def write_run_plots(result: Any, directory: str | Path) -> list[Path]:
    """The figures of ``ftth run --plot DIR``, byte-identical across runs of the same seed.

    * ``run-throughput``: payload carried per millisecond, upstream (the bursts' payload of
      every frame) and downstream (the frames' payload), from the engine's per-frame
      timelines, against the offered load and the capacity, with the end of the warm-up
      marked (EPON has no downstream frame timeline: that panel says so);
    * ``run-delay-cdf``: delay CDF per traffic class, upstream and downstream (from the
      delay histograms; delay axis in ms, log scale).

    Parameters
    ----------
    result
        A run's :class:`~ftth.emulator.result.Result` (typed ``Any``: this layer sits below
        the emulator and imports none of it).
    directory
        Created if needed.
    """
    import matplotlib

    plt = pyplot()
    out = output_dir(directory)
    spec, raw, data = result.spec, result.raw, result.to_dict()
    sc = data["scenario"]
    title = (
        f"{sc['name']}: {sc['technology']} 1:{sc['split']}, {sc['onus']} ONUs, DBA {sc['dba']}, "
        f"{data['duration_s']:g} s emulated, seed {data['seed']}"
    )
    paths: list[Path] = []
    with matplotlib.rc_context({"svg.hashsalt": "ftth-run", "font.size": 9}):
        # 1. Throughput over time, each direction.
        fig, axes = plt.subplots(2, 1, figsize=(10, 6.4), layout="constrained", sharex=True)
        frame_ps = int(getattr(spec.profile, "frame_ps", 0) or 0)
        frames_per_ms = PS_PER_MS // frame_ps if frame_ps else 0
        series = (
            ("upstream", raw.us_payload_used_bytes, "payload of the bursts"),
            ("downstream", raw.ds_payload_used_bytes, "payload of the frames"),
        )
        for ax, (name, timeline, what) in zip(axes, series, strict=True):
            payload = np.asarray(timeline, dtype=np.int64)
            n_ms = len(payload) // frames_per_ms if frames_per_ms else 0
            if n_ms:
                per_ms = payload[: n_ms * frames_per_ms].reshape(n_ms, frames_per_ms).sum(axis=1)
                mbps = per_ms * 8 * 1000 / 1e6  # bytes per ms -> Mb/s
                ax.step(np.arange(n_ms) + 1, mbps, where="pre", color="tab:blue", label="carried")
                ax.axhline(data[name]["offered_bps"] / 1e6, color="tab:orange", lw=1, ls="--",
                           label="offered (mean after warm-up)")  # fmt: skip
                ax.axhline(data[name]["capacity_bps"] / 1e6, color="black", lw=1,
                           label="capacity")  # fmt: skip
                ax.axvline(spec.warmup_ps / PS_PER_MS, color="grey", lw=1, ls=":",
                           label="end of warm-up")  # fmt: skip
                ax.set_ylim(bottom=0)
                ax.legend(loc="center left", fontsize=7)
            else:
                ax.text(0.5, 0.5, f"no per-frame {name} timeline for this technology or run length",
                        ha="center", va="center", transform=ax.transAxes)  # fmt: skip
            ax.set_ylabel(f"{name} payload (Mb/s)")
            ax.set_title(f"{name} throughput per millisecond ({what})")
        axes[-1].set_xlabel("time (ms)")
        fig.suptitle(title)
        paths += save(fig, out / RUN_PLOT_NAMES[0], "ftth run")
        plt.close(fig)
        # 2. Delay CDF per class and direction.
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        for ax, name in zip(axes, ("downstream", "upstream"), strict=True):
            stats = raw.upstream if name == "upstream" else raw.downstream
            queues = spec.upstream if name == "upstream" else spec.downstream
            labels: dict[str, list[int]] = {}
            for j, q in enumerate(queues):
                labels.setdefault(q.name, []).append(j)
            drawn = 0
            for label, rows in labels.items():
                values, frac = stats.delays.merged(rows).cdf()
                if len(values):
                    ax.step(values / PS_PER_MS, frac, where="post", label=label)
                    drawn += 1
            if drawn:
                ax.set_xscale("log")
                ax.legend(loc="lower right", fontsize=7)
            else:
                ax.text(0.5, 0.5, "no packet delivered after warm-up", ha="center",
                        va="center", transform=ax.transAxes)  # fmt: skip
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{name} delay CDF per class")
            ax.set_xlabel("delay (ms)")
            ax.set_ylabel("fraction of packets ≤ delay")
        fig.suptitle(title)
        paths += save(fig, out / RUN_PLOT_NAMES[1], "ftth run")
        plt.close(fig)
    return paths


__all__ = ["RUN_PLOT_NAMES", "plot_file_names", "pyplot", "save", "write_run_plots"]
