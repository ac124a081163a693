"""What the page builders share: reading a JSON file as one error line, embedding a PNG, finite numbers."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

from hrm.errors import UserError

MAX_IMAGE_BYTES = 4 << 20  # a PNG larger than this is left out of the page
MAX_IMAGES = 24


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc}); {what}") from None


def png_data_uri(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG") or len(data) > MAX_IMAGE_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None
