"""Reading tiny-cuda-nn's JSON-style configuration dicts: every error names the key and what is allowed."""
from __future__ import annotations

import math
import numbers


def otype(where: str, config, choices) -> str:
    """The config's ``otype``, matched case-insensitively (as tiny-cuda-nn does) to its spelling in
    ``choices``."""
    if not isinstance(config, dict):
        raise TypeError(f"{where} must be a dict (tiny-cuda-nn's JSON config), got {type(config).__name__}")
    if "otype" not in config:
        raise ValueError(f"{where}: the key 'otype' is missing; one of {', '.join(choices)}")
    name = config["otype"]
    for choice in choices:
        if isinstance(name, str) and name.lower() == choice.lower():
            return choice
    raise ValueError(f"{where}: otype {name!r} is not supported; one of {', '.join(choices)}")


def check_keys(where: str, config: dict, allowed) -> None:
    """Unknown keys are errors (a misspelt key would otherwise silently fall back to a default)."""
    for key in config:
        if key != "otype" and key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r}; the keys of this otype are "
                             f"{', '.join(repr(a) for a in sorted(allowed))}")


def integer(where: str, config: dict, key: str, default: int, lo: int, hi: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{where}: {key!r} must be an int in [{lo}, {hi}], got {value!r}")
    return int(value)


def number(where: str, config: dict, key: str, default: float, lo: float = -math.inf) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < lo:
        raise ValueError(f"{where}: {key!r} must be a finite number >= {lo}, got {value!r}")
    return float(value)


def choice(where: str, config: dict, key: str, default: str, mapping: dict, unsupported=()) -> str:
    """``mapping[name]`` for the ``name`` equal to the value up to case; names tiny-cuda-nn has but
    fastgen does not (``unsupported``) get their own message."""
    value = config.get(key, default)
    low = value.lower() if isinstance(value, str) else None
    for name, result in mapping.items():
        if low == name.lower():
            return result
    known = ", ".join(repr(v) for v in mapping)
    if low in {u.lower() for u in unsupported}:
        raise ValueError(f"{where}: {key!r} = {value!r} is a tiny-cuda-nn option that fastgen does not "
                         f"implement; supported: {known} (case-insensitive)")
    raise ValueError(f"{where}: {key!r} must be one of {known} (case-insensitive), got {value!r}")
