"""The API description (docs/api/openapi.yaml), loaded once and served as JSON.

In a checkout it is found next to the package; function images copy `docs/api` into their
build context (stack.yml `configuration.copy`) and point `OPENAPI_PATH` at it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from autostock.errors import ConfigError

REPOSITORY_COPY = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"


def location(configured: str = "") -> Path:
    return Path(configured) if configured else REPOSITORY_COPY


@lru_cache(maxsize=4)
def document(configured: str = "") -> dict[str, Any]:
    """The OpenAPI document as a dict; ConfigError when the file is missing or malformed."""
    path = location(configured)
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read the OpenAPI document at {path}: {e}") from e
    if not isinstance(loaded, dict) or "paths" not in loaded:
        raise ConfigError(f"{path} is not an OpenAPI document")
    return loaded
