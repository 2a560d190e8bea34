"""Traffic sources: packet arrivals as numpy batches for the emulator engine.

Every source produces, for consecutive windows ``[start_ps, end_ps)``, the packets arriving
in the window as two int64 arrays (arrival time in ps, sorted; Ethernet frame size in bytes),
from its own ``numpy.random.Generator`` (the engine derives one per source with
``SeedSequence.spawn``, so adding a source does not change the others).  The result never
depends on how the run is cut into windows.

Models (pon-reference §7), by registry name:

=================  ==========================================================================
``poisson``        Poisson arrivals, fixed / trimodal (64/594/1518 B) / empirical sizes
``cbr``            constant bit rate, equally spaced frames, random phase
``pareto-onoff``   self-similar: superposition of Pareto ON/OFF sub-sources, H = (3 − α)/2
``greedy``         always backlogged (unbounded, topped up by the engine) or a CBR probe
``household``      busy-hour residential mix: video, web/bulk, gaming, video call, backup
``pcap``           replay of a capture's frame sizes and inter-arrival times (scapy)
=================  ==========================================================================

``make_source(model, params, rng, line_rate_bps=...)`` validates ``params`` against the
model's pydantic schema (unknown keys rejected) and raises :class:`~ftth.errors.InputError`
naming ``f"{where}.{field}"`` and the allowed range for any mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from ftth.errors import InputError
from ftth.traffic.base import (
    TRIMODAL,
    BufferedSource,
    Params,
    SizeArray,
    SizeMix,
    TimeArray,
    TrafficSource,
    validate_params,
)
from ftth.traffic.cbr import CbrParams, CbrSource, GreedyParams, GreedySource
from ftth.traffic.household import HouseholdParams, HouseholdSource
from ftth.traffic.pareto import ParetoOnOffParams, ParetoOnOffSource
from ftth.traffic.pcap import PcapParams, PcapSource
from ftth.traffic.poisson import PoissonParams, PoissonSource

__all__ = [
    "TRAFFIC_MODELS",
    "TRIMODAL",
    "BufferedSource",
    "CbrSource",
    "GreedySource",
    "HouseholdSource",
    "ParetoOnOffSource",
    "PcapSource",
    "PoissonSource",
    "SizeArray",
    "SizeMix",
    "TimeArray",
    "TrafficSource",
    "list_models",
    "make_source",
    "register_model",
    "traffic_params_model",
]

#: Registry: model name -> source class.  A class has ``name`` (its key), ``Params`` (its
#: pydantic schema) and ``__init__(params, rng, *, line_rate_bps, where)``.
TRAFFIC_MODELS: dict[str, type] = {}

_PARAMS: dict[str, type[Params]] = {}

S = TypeVar("S", bound=type)


def register_model(params_model: type[Params]) -> Any:
    """Class decorator registering a source class under its ``name`` with its params schema."""

    def decorate(cls: S) -> S:
        name = getattr(cls, "name", "")
        if not name:
            raise ValueError(f"{cls.__name__} needs a non-empty 'name' to be registered")
        TRAFFIC_MODELS[name] = cls
        _PARAMS[name] = params_model
        return cls

    return decorate


for _cls, _params in (
    (PoissonSource, PoissonParams),
    (CbrSource, CbrParams),
    (ParetoOnOffSource, ParetoOnOffParams),
    (GreedySource, GreedyParams),
    (HouseholdSource, HouseholdParams),
    (PcapSource, PcapParams),
):
    register_model(_params)(_cls)


def list_models() -> list[str]:
    """Names of every registered traffic model, sorted."""
    return sorted(TRAFFIC_MODELS)


def _unknown(model: object, where: str) -> InputError:
    return InputError(where, f"unknown traffic model {model!r}; valid: {', '.join(list_models())}")


def traffic_params_model(model: str, *, where: str = "traffic") -> type[Params]:
    """The pydantic schema (``extra="forbid"``) of ``model``'s parameters.

    Raises
    ------
    InputError
        ``model`` is not registered (the message lists the valid models).
    """
    try:
        return _PARAMS[model]
    except (KeyError, TypeError):
        raise _unknown(model, where) from None


def make_source(
    model: str,
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    line_rate_bps: float,
    where: str = "traffic",
) -> TrafficSource:
    """Build a traffic source.

    Parameters
    ----------
    model
        Registry name (see :func:`list_models`).
    params
        The model's parameters (validated; unknown keys are errors).
    rng
        The source's own generator (derive it with ``SeedSequence.spawn``); the source is
        the only user of it from now on.
    line_rate_bps
        Rate of the link the source feeds (the greedy source's rate when unbounded).
    where
        Key path of this traffic entry, used in error messages.

    Raises
    ------
    InputError
        Unknown model, or any parameter problem: ``where`` is ``f"{where}.{field}"`` and the
        message states the allowed range (one line).
    """
    params_model = traffic_params_model(model, where=where)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    validated = validate_params(params_model, params, where)
    source: TrafficSource = TRAFFIC_MODELS[model](
        validated, rng, line_rate_bps=float(line_rate_bps), where=where
    )
    return source
