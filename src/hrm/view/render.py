"""The page as HTML: the data embedded as JSON into ``template.html`` (inline CSS and JavaScript, no network),
and written atomically."""

from __future__ import annotations

import html
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

from hrm.errors import UserError

TEMPLATE = "template.html"
DATA_MARK = "/*__HRM_VIEW_DATA__*/"
TITLE_MARK = "__HRM_VIEW_TITLE__"


def _template() -> str:
    return resources.files("hrm.view").joinpath(TEMPLATE).read_text(encoding="utf-8")


def _finite_json(value: Any) -> Any:
    """NaN and infinities (e.g. in an eval.json with nothing counted) as null: JavaScript's JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    return value


def render_html(page: dict[str, Any]) -> str:
    """The self-contained page: the template with the data embedded as JSON (``<`` escaped, so no ``</script>``
    inside the data can end the script element)."""
    data = json.dumps(_finite_json(page), separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    text = _template()
    return text.replace(TITLE_MARK, html.escape(str(page.get("title", "hrm view")))).replace(DATA_MARK, data)


def write_html(text: str, out: str | os.PathLike) -> Path:
    """Write atomically (:func:`hrm.runtime.files.write_text_atomic`): never a half-written page."""
    from hrm.runtime.files import check_output_file, write_text_atomic

    out = check_output_file(out, "--out")
    try:
        return write_text_atomic(out, text)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror})") from None


def default_out(path: Path) -> Path:
    """``<name>.html`` in the working directory (a dataset or run folder is never written into)."""
    name = path.stem if path.is_file() else (path.resolve().name or "view")
    return Path(f"{name}.html")
