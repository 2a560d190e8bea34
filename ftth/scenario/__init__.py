"""Scenario files: the pydantic models of a TOML scenario, its cross-key rules and the loader.

A scenario is plain data: technology, fibre tree, ONUs, T-CONTs, downstream classes,
traffic, households and their tiers, DBA, faults and outputs.  Every problem the user can
make surfaces as **one** :class:`~ftth.errors.InputError` naming the key path
(``tree.splitters[1]``, ``onus[3].id``, ``tconts[0].weight``) and the allowed range.

The package has three layers of its own:

* :mod:`ftth.scenario.models` — keys, types, defaults and single-key ranges (pydantic);
  every number finite and bounded (:mod:`ftth.scenario.limits`);
* :mod:`ftth.scenario.rules` — what depends on the technology profile or on several keys
  (split, ONU-IDs, reach, differential distance, T-CONT type rules, line rates, admission
  control, Teqd, faults);
* :mod:`ftth.scenario.load` — TOML reading, ``--set`` overrides and the error text.

It imports neither the DBAs (``olt``) nor the traffic models (``ftth.traffic``): the DBA
name and parameters and the traffic parameters are checked by
:func:`ftth.emulator.build.check_build`, which ``ftth validate`` and ``ftth run`` both use.

The public entry points are :func:`load_scenario`, :func:`scenario_from_dict`,
:func:`apply_overrides` and :func:`default_scenario_path`.
"""

from __future__ import annotations

from ftth.scenario.limits import (
    INT64_MAX,
    MAX_BUFFER_BYTES,
    MAX_DURATION_S,
    MAX_LOGICAL_REACH_KM,
    MAX_ONUS,
    MAX_TEQD_US,
)
from ftth.scenario.load import (
    apply_overrides,
    default_scenario_path,
    load_scenario,
    resolve_scenario_path,
    scenario_from_dict,
    strip_optional,
    translate_validation_error,
)
from ftth.scenario.models import (
    DEFAULT_DBA_FRAMED,
    DEFAULT_DBA_POLLED,
    DEFAULT_SCENARIO_NAME,
    Activation,
    DbaSettings,
    DownstreamClass,
    Fault,
    Fec,
    Households,
    OltSettings,
    Onu,
    OnuGenerator,
    Output,
    Scenario,
    TCont,
    TrafficSettings,
    Tree,
)
from ftth.scenario.summary import SummaryRow, summary_rows

__all__ = [
    "DEFAULT_DBA_FRAMED",
    "DEFAULT_DBA_POLLED",
    "DEFAULT_SCENARIO_NAME",
    "INT64_MAX",
    "MAX_BUFFER_BYTES",
    "MAX_DURATION_S",
    "MAX_LOGICAL_REACH_KM",
    "MAX_ONUS",
    "MAX_TEQD_US",
    "Activation",
    "DbaSettings",
    "DownstreamClass",
    "Fault",
    "Fec",
    "Households",
    "OltSettings",
    "Onu",
    "OnuGenerator",
    "Output",
    "Scenario",
    "SummaryRow",
    "TCont",
    "TrafficSettings",
    "Tree",
    "apply_overrides",
    "default_scenario_path",
    "load_scenario",
    "resolve_scenario_path",
    "scenario_from_dict",
    "strip_optional",
    "summary_rows",
    "translate_validation_error",
]
