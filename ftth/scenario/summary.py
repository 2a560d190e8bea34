"""Key facts of a validated scenario, as ``(label, text)`` rows for ``ftth validate``."""

from __future__ import annotations

from ftth.phy import fmt_rate
from ftth.scenario.models import Scenario
from ftth.scenario.text import fmt_num, id_ranges

#: One ``(label, text)`` row of :func:`summary_rows` (rendering is the caller's business).
SummaryRow = tuple[str, str]


def summary_rows(sc: Scenario) -> list[SummaryRow]:
    """Key facts of a validated scenario, for ``ftth validate`` and reports."""
    profile = sc.profile
    onus = sc.onu_list()
    distances = [sc.distance_km(onu) for onu in onus]
    tcont_text = ", ".join(
        f"{tc.name} (type {tc.type}"
        + (f", fixed {fmt_rate(tc.fixed_bps)}" if tc.fixed_bps else "")
        + (f", assured {fmt_rate(tc.assured_bps)}" if tc.assured_bps else "")
        + (f", max {fmt_rate(tc.max_bps)}" if tc.max_bps else "")
        + (f", {tc.traffic['model']}" if tc.traffic else "")
        + ")"
        for tc in sc.tconts or []
    )
    overridden = sum(1 for onu in (sc.onus if isinstance(sc.onus, list) else []) if onu.tconts)
    if overridden:
        tcont_text += f"; {overridden} ONU(s) override"
    ds_text = ", ".join(
        f"{c.name} (priority {c.priority}" + (f", {c.traffic['model']}" if c.traffic else "") + ")"
        for c in sc.downstream or []
    )
    tier = sc.households.tier
    rows: list[SummaryRow] = [
        ("scenario", sc.name),
        (
            "technology",
            f"{profile.title} ({fmt_rate(profile.downstream_bps)} down / "
            f"{fmt_rate(profile.upstream_bps)} up)",
        ),
        (
            "FEC",
            f"upstream {'on' if sc.fec_upstream else 'off'}, "
            f"downstream {'on' if sc.fec_downstream else 'off'}",
        ),
        (
            "split",
            f"1:{sc.tree.split_ratio} ({' × '.join(map(str, sc.tree.splitters))}), "
            f"class {sc.tree.optical_class}",
        ),
        (
            "ONUs",
            f"{len(onus)} (ids {id_ranges({onu.id for onu in onus})}), "
            f"{sc.households.per_onu} household(s) each" + (f", tier {tier}" if tier else ""),
        ),
        (
            "distance",
            f"{fmt_num(round(min(distances), 3))}–{fmt_num(round(max(distances), 3))} km "
            f"(feeder {fmt_num(sc.tree.feeder_km)} km)",
        ),
        ("T-CONTs", tcont_text),
        ("downstream", ds_text),
        ("DBA", f"{sc.dba.name}, cycle {sc.dba.cycle_frames} frame(s)"),
        (
            "capacity",
            f"{fmt_rate(sc.capacity_bps('upstream'))} up, "
            f"{fmt_rate(sc.capacity_bps('downstream'))} down (analytic saturation goodput)",
        ),
        (
            "run",
            f"{fmt_num(sc.duration_s)} s, warm-up {fmt_num(sc.warmup_s_effective)} s, "
            f"seed {sc.seed}, engine {sc.engine}",
        ),
    ]
    late = [onu for onu in onus if onu.join_at_s > 0]
    if sc.emulates_control_plane:
        rows.append(
            (
                "activation",
                ("every ONU from power-on" if sc.activation.enabled else "ONUs start in O5")
                + (f", {len(late)} join(s) later" if late else "")
                + f", discovery every {fmt_num(sc.activation.discovery_period_ms)} ms",
            )
        )
    if sc.faults:
        rows.append(("faults", ", ".join(f"{f.kind}@{fmt_num(f.at_s)}s" for f in sc.faults)))
    return rows
