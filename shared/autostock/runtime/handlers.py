"""Import every function's `handler.py` as its own module, failing loudly with its name."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autostock.errors import ConfigError
from autostock.runtime.stack import Stack

Handle = Callable[[Any, Any], dict[str, Any]]


def module_name(function: str) -> str:
    # Same naming as tests/helpers.load_handler, so a process never holds two copies.
    return f"fn_{function.replace('-', '_')}"


def load_handler(function: str, folder: Path) -> Handle:
    name = module_name(function)
    module = sys.modules.get(name)
    if module is None or Path(getattr(module, "__file__", "")).parent != folder:
        path = folder / "handler.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ConfigError(f"function {function}: no handler at {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            raise ConfigError(f"function {function}: importing {path} failed: {type(e).__name__}: {e}") from e
    handle = getattr(module, "handle", None)
    if not callable(handle):
        raise ConfigError(f"function {function}: {folder / 'handler.py'} has no handle(event, context)")
    return handle


def load_all(stack: Stack) -> dict[str, Handle]:
    """Every function's `handle`; the first broken one stops start-up, named."""
    return {name: load_handler(name, fn.handler) for name, fn in stack.functions.items()}
