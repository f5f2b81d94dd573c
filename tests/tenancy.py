"""Tenancy registry: how to make user A's resource for every API path that takes an id.

`tests/auth/test_tenancy.py` walks docs/api/openapi.yaml and the routers of every handler in
stack.yml; for every path with a `{param}` (`<param>` in a router) it
asks the registry for a factory that makes a resource owned by user A and returns the path
parameters, then calls every method of the path as user B and expects 404. A path of a
function that exists (stack.yml + handler) without a factory fails the test, so new routes
are covered as soon as they ship. Each area registers its own in `tests/<area>/tenancy_factories.py`:

    from tests.tenancy import factory

    @factory("/api/v1/trading/orders/{order_id}", bodies={"patch": {"quantity": 1}})
    def order(resources, owner):          # owner: a user_factory() dict
        ...                               # make the order as owner
        return {"order_id": order_id}

`exempt(path, reason)` marks a path that is cross-tenant by design (admin paths).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Factory:
    make: Callable[[Any, dict], dict[str, str]]
    bodies: dict[str, Any] = field(default_factory=dict)


FACTORIES: dict[str, Factory] = {}
EXEMPT: dict[str, str] = {}


def factory(path: str, *, bodies: dict[str, Any] | None = None) -> Callable:
    def register(fn: Callable[[Any, dict], dict[str, str]]) -> Callable:
        FACTORIES[path] = Factory(fn, {k.lower(): v for k, v in (bodies or {}).items()})
        return fn
    return register


def exempt(path: str, reason: str) -> None:
    EXEMPT[path] = reason


def load_all() -> None:
    for path in sorted(ROOT.glob("tests/*/tenancy_factories.py")):
        importlib.import_module(f"tests.{path.parent.name}.tenancy_factories")


def openapi_id_operations() -> list[tuple[str, str]]:
    """(path, METHOD) for every operation on an OpenAPI path with a path parameter."""
    spec = yaml.safe_load((ROOT / "docs/api/openapi.yaml").read_text())
    methods = {"get", "post", "put", "patch", "delete"}
    return [(path, method.upper()) for path, item in sorted((spec.get("paths") or {}).items()) if "{" in path
            for method in item if method in methods]


# (path, METHOD) → function, for routes found in the handlers' routers.
ROUTED: dict[tuple[str, str], str] = {}


def router_id_operations() -> list[tuple[str, str]]:
    """(path, METHOD) for every router route with a `<param>`, in every functions/*/handler.py."""
    from tests.helpers import load_handler
    found = []
    for handler in sorted(ROOT.glob("functions/*/handler.py")):
        name = handler.parent.name.replace("_", "-")
        router = getattr(load_handler(name), "router", None)
        for entry in getattr(router, "entries", []):
            if "<" in entry.template:
                key = (re.sub(r"<([a-z_]+)>", r"{\1}", entry.template), entry.method)
                ROUTED[key] = name
                found.append(key)
    return found


def id_operations() -> list[tuple[str, str]]:
    return sorted(set(openapi_id_operations()) | set(router_id_operations()))


def function_for(method: str, path: str) -> str | None:
    """The stack.yml function serving a path: a method-qualified prefix wins, then the longest;
    else the function whose router declares it."""
    stack = yaml.safe_load((ROOT / "stack.yml").read_text())
    best: tuple[int, int, str] | None = None
    for name, spec in (stack.get("functions") or {}).items():
        routes = ((spec or {}).get("annotations") or {}).get("com.autostock.routes", "")
        for entry in filter(None, (r.strip() for r in routes.split(","))):
            verb, _, prefix = entry.rpartition(" ")
            if verb and verb.upper() != method:
                continue
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                rank = (1 if verb else 0, len(prefix), name)
                best = max(best, rank) if best else rank
    return best[2] if best else ROUTED.get((path, method))


def handler_exists(function: str) -> bool:
    return (ROOT / "functions" / function.replace("-", "_") / "handler.py").is_file()
