"""fastgen/_build_status.json: whether the last build produced fastgen._C, and if not, why.

Written next to the extension by every build, read by fastgen._ext when ``import fastgen._C``
fails, so that a skipped build explains itself without the extension.
"""
from __future__ import annotations

import json
import os

FILENAME = "_build_status.json"


def write(package_dir: str, built: bool, reason: str = "", fix: str = "") -> None:
    os.makedirs(package_dir, exist_ok=True)
    with open(os.path.join(package_dir, FILENAME), "w") as f:
        json.dump({"built": built, "reason": reason, "fix": fix}, f, indent=1)
        f.write("\n")


def read(package_dir: str) -> dict | None:
    """The recorded status, or None when no build has run here (e.g. an unbuilt checkout)."""
    try:
        with open(os.path.join(package_dir, FILENAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
