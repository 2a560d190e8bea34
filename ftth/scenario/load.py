"""Loading a scenario and the text of its errors.

Reads a TOML file (syntax errors with line and column), applies ``--set`` overrides,
resolves relative capture paths, validates through the models and turns the first pydantic
error into one :class:`~ftth.errors.InputError` naming the key path and the allowed range
(unknown keys get a "did you mean" suggestion, literals list the valid values).

Public: :func:`load_scenario`, :func:`scenario_from_dict`, :func:`apply_overrides`,
:func:`default_scenario_path`, and :func:`translate_validation_error` for parameter models
of other layers (the traffic models' checks in :mod:`ftth.emulator.build`).
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
import types
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, Tag, ValidationError
from pydantic.fields import FieldInfo

from ftth.errors import InputError
from ftth.scenario.models import DEFAULT_SCENARIO_NAME, ONUS_TABLE_TAG, UNION_TAGS, Scenario
from ftth.scenario.text import describe, fmt_num


# ======================================================================== type walking
def strip_optional(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, …]`` → ``X`` (other unions unchanged)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _union_branch(annotation: Any, tag: str) -> Any:
    """The member of a discriminated union carrying ``Tag(tag)``."""
    for member in get_args(annotation):
        if get_origin(member) is Annotated:
            base, *meta = get_args(member)
            if any(isinstance(m, Tag) and m.tag == tag for m in meta):
                return base
    return None


def _key_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _field_by_key(model: type[BaseModel], key: str) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if _key_name(name, info) == key:
            return name, info
    return None


def _walk(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[Any, FieldInfo | None, Any]:
    """Follow ``loc`` through the models.

    Returns the model containing the last key (or ``None``), that key's FieldInfo (or
    ``None``) and the annotation reached.
    """
    annotation: Any = root
    parent: Any = None
    info: FieldInfo | None = None
    for part in loc:
        current = strip_optional(annotation)
        if isinstance(part, str) and part in UNION_TAGS:
            annotation = _union_branch(current, part)
            continue
        if isinstance(part, int):
            args = get_args(current)
            annotation = args[0] if get_origin(current) is list and args else None
            info = None
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = _field_by_key(current, part)
            parent = current
            if found is None:
                return parent, None, None
            info = found[1]
            annotation = info.annotation
            continue
        return None, None, None
    return parent, info, annotation


def _loc_path(loc: Sequence[str | int], prefix: str = "") -> str:
    """``("onus", "onus-array", 3, "id")`` → ``onus[3].id``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in UNION_TAGS:
            continue
        else:
            # A key with a newline or control character (TOML allows quoted keys) is shown
            # quoted, so the error stays on one line.
            text = str(part) if str(part).isprintable() else repr(str(part))
            path = f"{path}.{text}" if path else text
    return path


def _range_text(info: FieldInfo | None, use_allowed: bool = True) -> str | None:
    """``"in 0..7"``, ``"> 0 and ≤ 3600"``, ``"≥ 1"`` from a field's constraints.

    With ``use_allowed``, a field without numeric bounds falls back to the ``allowed`` text
    of its ``json_schema_extra`` (how the traffic parameter models state their ranges).
    """
    if info is None:
        return None
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = ("≥", meta.ge)
        elif isinstance(meta, annotated_types.Gt):
            low = (">", meta.gt)
        elif isinstance(meta, annotated_types.Le):
            high = ("≤", meta.le)
        elif isinstance(meta, annotated_types.Lt):
            high = ("<", meta.lt)
    if low and high:
        if low[0] == "≥" and high[0] == "≤" and strip_optional(info.annotation) is int:
            return f"in {fmt_num(low[1])}..{fmt_num(high[1])}"
        return f"{low[0]} {fmt_num(low[1])} and {high[0]} {fmt_num(high[1])}"
    bound = low or high
    if bound:
        return f"{bound[0]} {fmt_num(bound[1])}"
    if not use_allowed:
        return None
    # Parameter models of other modules (traffic) state their range in json_schema_extra.
    extra = info.json_schema_extra
    allowed = extra.get("allowed") if isinstance(extra, dict) else None
    return str(allowed) if allowed else None


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "list_type": "an array",
    "path_type": "a path string",
}


def translate_validation_error(
    exc: ValidationError, root: type[BaseModel] = Scenario, prefix: str = ""
) -> InputError:
    """One :class:`InputError` for the most useful error of a pydantic ``ValidationError``.

    Unknown keys are reported first (a misspelt key often also shows up as a missing one),
    then the first error in document order.
    """
    errors = exc.errors(include_url=False)
    chosen = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(chosen["loc"])
    kind = chosen["type"]
    value = chosen.get("input")
    where = _loc_path(loc, prefix)

    if kind == "extra_forbidden":
        # The unknown key sits in the model reached by walking everything before it.
        _, _, holder = _walk(root, loc[:-1])
        holder = strip_optional(holder)
        keys = (
            [_key_name(n, i) for n, i in holder.model_fields.items()]
            if isinstance(holder, type) and issubclass(holder, BaseModel)
            else []
        )
        key = str(loc[-1])
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(keys)}"
        return InputError(where, f"unknown key {key!r}; {hint}")

    if loc and loc[-1] == ONUS_TABLE_TAG and kind == "model_type":
        return InputError(
            where, f"must be a table [onus] or an array of tables [[onus]], got {describe(value)}"
        )
    _, info, annotation = _walk(root, loc)
    if kind == "missing":
        return InputError(where, "required key missing")
    if kind == "literal_error":
        choices = get_args(strip_optional(annotation))
        listed = ", ".join(str(c) for c in choices) or str(chosen.get("ctx", {}).get("expected"))
        return InputError(where, f"must be one of: {listed}; got {describe(value)}")
    if kind in (
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
    ):
        bounds = _range_text(info) or chosen["msg"].removeprefix("Input should be ")
        return InputError(where, f"must be {bounds}, got {describe(value)}")
    if kind in _TYPE_WORDS:
        bounds_or_none = _range_text(info, use_allowed=False)
        extra = f" {bounds_or_none}" if bounds_or_none else ""
        return InputError(where, f"must be {_TYPE_WORDS[kind]}{extra}, got {describe(value)}")
    if kind == "string_too_short":
        return InputError(where, "must not be empty")
    if kind == "too_short":
        least = chosen.get("ctx", {}).get("min_length", 1)
        return InputError(where, f"needs at least {least} entry, got {len(value or ())}")
    if kind == "too_long":
        most = chosen.get("ctx", {}).get("max_length")
        return InputError(where, f"takes at most {most} entries, got {len(value or ())}")
    message = chosen["msg"]
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    return InputError(where, message)


# ======================================================================== loader
def default_scenario_path() -> Path:
    """Path of the embedded default scenario (works in editable and regular installs)."""
    return Path(str(resources.files("ftth").joinpath("seeds", DEFAULT_SCENARIO_NAME)))


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate parsed TOML data into a :class:`Scenario`.

    Raises
    ------
    InputError
        The first problem, naming its key path and the allowed range.
    """
    if not isinstance(data, dict):
        raise InputError(source, f"a scenario must be a table, got {describe(data)}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise translate_validation_error(exc) from None
    scenario._source = source
    return scenario


def load_scenario(path: str | Path | None, overrides: Sequence[str] = ()) -> Scenario:
    """Read a TOML scenario, apply ``--set`` overrides and validate it.

    Parameters
    ----------
    path
        Scenario file; ``None`` loads the embedded default (:func:`default_scenario_path`).
    overrides
        ``"dotted.key=value"`` strings (see :func:`apply_overrides`).

    Raises
    ------
    InputError
        Missing file, TOML syntax error (with line and column), bad override, or the first
        problem in the scenario.
    """
    file = default_scenario_path() if path is None else Path(path)
    data = _read_toml(file)
    data = apply_overrides(data, overrides)
    _resolve_capture_paths(data, file.parent)
    return scenario_from_dict(data, source=str(file))


def _resolve_capture_paths(data: dict[str, Any], folder: Path) -> None:
    """Make every relative ``pcap`` path relative to the scenario file's folder, as a user
    writing ``path = "trace.pcap"`` next to the scenario means (not to the current directory)."""

    def fix(table: Any) -> None:
        if isinstance(table, dict) and table.get("model") == "pcap":
            raw = table.get("path")
            if isinstance(raw, str) and raw and not Path(raw).is_absolute():
                table["path"] = str(folder / raw)

    def walk(items: Any) -> None:
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    fix(item.get("traffic"))

    walk(data.get("tconts"))
    walk(data.get("downstream"))
    onus = data.get("onus")
    if isinstance(onus, list):
        for onu in onus:
            if isinstance(onu, dict):
                walk(onu.get("tconts"))
                walk(onu.get("downstream"))


def _read_toml(file: Path) -> dict[str, Any]:
    where = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(where, "no such file") from None
    except IsADirectoryError:
        raise InputError(where, "is a directory, not a scenario file") from None
    except UnicodeDecodeError as exc:
        raise InputError(where, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(where, exc.strerror or str(exc)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(where, _toml_error_text(str(exc), text)) from None
    except ValueError as exc:
        # Python refuses integers of more than 4300 digits (int_max_str_digits).
        raise InputError(where, f"TOML value out of range: {exc}".split(";")[0]) from None


_TOML_POS_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")


def _toml_error_text(message: str, text: str) -> str:
    """``"Invalid value (at line 3, column 9)"`` → ``"TOML syntax error at line 3, column 9: …"``.

    Python 3.11's tomllib reports some errors "at end of document"; those get the position
    of the last character.
    """
    match = _TOML_POS_RE.search(message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    else:
        end = _TOML_END_RE.search(message)
        if end:
            message = message[: end.start()]
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"TOML syntax error at line {line}, column {column}: {message}"


def _parse_override_value(text: str) -> Any:
    """A TOML value (``3``, ``0.01``, ``"x"``, ``[4, 16]``, ``true``), else the bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except (tomllib.TOMLDecodeError, ValueError):
        # ValueError: an integer of more than 4300 digits; as a string it is refused later
        # with the key's expected type.
        return text.strip()


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set dotted.key=value`` overrides to parsed TOML data (a deep copy is returned).

    Each value is parsed as a TOML value and falls back to a bare string.  Missing tables
    on the way are created; numeric path parts index arrays (``tconts.0.max_bps=1e9``).

    Raises
    ------
    InputError
        ``where = "--set"`` for a malformed override or a path that cannot be followed.
    """
    result = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                "--set", f"expected KEY=VALUE, e.g. tree.feeder_km=5, got {override!r}"
            )
        parts = key.split(".")
        if any(not part for part in parts):
            raise InputError("--set", f"empty part in key {key!r}")
        _set_path(result, parts, _parse_override_value(raw), override)
    return result


def _set_path(data: dict[str, Any], parts: list[str], value: Any, override: str) -> None:
    node: Any = data
    walked: list[str] = []

    def fail(why: str) -> InputError:
        return InputError("--set", f"{override!r}: {why}")

    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        here = ".".join(walked + [part])
        if isinstance(node, list):
            if not part.isdigit():
                raise fail(f"{'.'.join(walked)} is an array; use a number, not {part!r}")
            position = int(part)
            if position >= len(node):
                raise fail(f"{here}: no such element ({'.'.join(walked)} has {len(node)})")
            if last:
                node[position] = value
                return
            node = node[position]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node:
                node[part] = {}
            node = node[part]
        else:
            raise fail(f"{'.'.join(walked)} is {describe(node)}, not a table or array")
        walked.append(part)
