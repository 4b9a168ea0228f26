"""Signature tables and the comparison helper shared by the compat signature tests."""
from __future__ import annotations

import importlib
import inspect


def plain(obj) -> str:
    """``obj``'s signature without annotations: names, order, kinds and defaults only."""
    sig = inspect.signature(obj)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def resolve(root: str, module: str, name: str):
    """``root.module.name``, where ``name`` may be ``Class.method``."""
    mod = importlib.import_module(f"{root}.{module}" if module else root)
    obj = mod
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def mismatches(root: str, table: dict) -> list:
    """``(module, name, expected, actual)`` for every entry of ``table`` that ``root`` does not match."""
    bad = []
    for module, entries in table.items():
        for name, expected in entries.items():
            try:
                actual = plain(resolve(root, module, name))
            except (AttributeError, ImportError) as e:
                actual = f"missing ({e})"
            if actual != expected:
                bad.append((module, name, expected, actual))
    return bad
