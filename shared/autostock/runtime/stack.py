"""`stack.yml`: read it the way faas-cli does (envsubst, then YAML) and check it against what
faas-cli and OpenFaaS Community Edition accept (docs: ../shared/docs/openfaas.md §2, §10, §11).

Routes: `com.autostock.routes` is a comma list of path prefixes, each optionally preceded by a
method: `/api/v1/x` matches `/api/v1/x` and everything under `/api/v1/x/`; `POST /api/v1/x` the
same paths for POST only. The most specific match wins: the longest prefix; on equal prefixes a
method route on exactly its path, then a route without method, then a method route on a path
below its own. So `POST /api/v1/trading/orders` (place-order) takes that exact POST while
`POST /api/v1/trading/orders/1/cancel` stays with `/api/v1/trading/orders` (orders).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from autostock.errors import ConfigError

ROUTES_ANNOTATION = "com.autostock.routes"
CRON_TOPIC = "cron-function"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_FUNCTIONS = 15  # OpenFaaS CE's MaxFunctions
MAX_REPLICAS = 5    # OpenFaaS CE's MaxReplicas
# Labels faas-netes CE refuses on deploy (pkg/handlers/validate.go).
REFUSED_LABELS = ("com.openfaas.scale.zero", "com.openfaas.scale.zero-duration",
                  "com.openfaas.scale.type", "com.openfaas.scale.target")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@dataclass(frozen=True)
class Route:
    """One public route of a function."""

    function: str
    path: str
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method and not (method == "HEAD" and self.method == "GET"):
            return False
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")

    def rank(self, path: str) -> tuple[int, int]:
        """How specific this route is for `path` (which it matches); higher wins."""
        if self.method is None:
            return len(self.path), 1
        return len(self.path), 2 if path.rstrip("/") == self.path.rstrip("/") else 0

    def __str__(self) -> str:
        return f"{self.method} {self.path}" if self.method else self.path


@dataclass(frozen=True)
class Function:
    name: str
    lang: str
    handler: Path
    image: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    topics: tuple[str, ...] = ()      # NATS subjects (never cron-function)
    schedule: str | None = None       # cron, when the topic is cron-function
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Stack:
    path: Path
    root: Path
    provider: str
    functions: dict[str, Function]
    raw: Mapping[str, Any] = field(repr=False)

    def routes(self) -> list[Route]:
        """Every public route, longest path first."""
        found = [r for f in self.functions.values() for r in f.routes]
        return sorted(found, key=lambda r: len(r.path), reverse=True)


def envsubst(text: str, environ: Mapping[str, str]) -> str:
    """`${VAR}` and `${VAR:-default}` as faas-cli substitutes them (unset → default or "")."""
    return _VAR.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), text)


def parse_routes(function: str, text: str) -> tuple[Route, ...]:
    routes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        method, _, path = item.rpartition(" ")
        method = method.strip().upper() or None
        if method is not None and method not in METHODS:
            raise ConfigError(f"{function}: route {item!r} has an unknown method {method}")
        if not path.startswith("/"):
            raise ConfigError(f"{function}: route {item!r} must start with / (optionally after a method)")
        path = path.removesuffix("/*").rstrip("/") or "/"  # `/x/*` is accepted and means `/x`
        routes.append(Route(function, path, method))
    return tuple(routes)


def _topics(name: str, annotations: Mapping[str, str]) -> tuple[tuple[str, ...], str | None]:
    topic = str(annotations.get("topic") or "").strip()
    if not topic:
        return (), None
    if topic == CRON_TOPIC:
        schedule = str(annotations.get("schedule") or "").strip()
        if not croniter.is_valid(schedule):
            raise ConfigError(f"{name}: topic cron-function needs a valid 5-field schedule, was {schedule!r}")
        return (), schedule
    subjects = tuple(s.strip() for s in topic.split(",") if s.strip())
    if CRON_TOPIC in subjects:
        raise ConfigError(f"{name}: cron-function must be the whole topic (CE matches it exactly)")
    return subjects, None


def load(path: str | Path, environ: Mapping[str, str] | None = None, root: str | Path | None = None) -> Stack:
    """Read a stack file. `root` is where handler folders are resolved (default: its folder)."""
    path = Path(path).resolve()
    try:
        raw = yaml.safe_load(envsubst(path.read_text(), environ or {})) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    base = Path(root).resolve() if root else path.parent
    provider = str((raw.get("provider") or {}).get("name", ""))
    functions = {}
    for name, spec in (raw.get("functions") or {}).items():
        spec = spec or {}
        annotations = {str(k): str(v) for k, v in (spec.get("annotations") or {}).items()}
        topics, schedule = _topics(name, annotations)
        functions[name] = Function(
            name=name, lang=str(spec.get("lang", "")), handler=(base / str(spec.get("handler", ""))).resolve(),
            image=str(spec.get("image", "")),
            labels={str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
            annotations=annotations, routes=parse_routes(name, annotations.get(ROUTES_ANNOTATION, "")),
            topics=topics, schedule=schedule, raw=spec)
    return Stack(path=path, root=base, provider=provider, functions=functions, raw=raw)


def problems(stack: Stack, templates_dir: Path | None = None) -> list[str]:
    """Everything faas-cli or OpenFaaS CE would refuse in this stack (empty when fine)."""
    found: list[str] = []
    raw_version = stack.raw.get("version")
    if raw_version is not None and str(raw_version) != "1.0":
        found.append(f"version must be 1.0, was {raw_version!r}")
    if stack.provider != "openfaas":
        found.append(f"provider.name must be openfaas, was {stack.provider!r}")
    if len(stack.functions) > MAX_FUNCTIONS:
        found.append(f"{len(stack.functions)} functions; OpenFaaS CE deploys at most {MAX_FUNCTIONS}")
    templates = templates_dir or stack.root / "templates"
    for fn in stack.functions.values():
        found.extend(f"{fn.name}: {p}" for p in _function_problems(fn, templates))
    return found


def _function_problems(fn: Function, templates: Path) -> list[str]:
    found = []
    if not _NAME.match(fn.name):
        found.append("name must be a DNS label ([a-z0-9-], at most 63 characters)")
    if not fn.lang or not (templates / fn.lang / "template.yml").is_file():
        found.append(f"lang {fn.lang!r} is not a template folder under {templates}")
    if not (fn.handler / "handler.py").is_file():
        found.append(f"handler folder {fn.handler} has no handler.py")
    if not fn.image or " " in fn.image:
        found.append("image is missing")
    for label in REFUSED_LABELS:
        if label in fn.labels:
            found.append(f"label {label} is refused by OpenFaaS CE")
    for label in ("com.openfaas.scale.min", "com.openfaas.scale.max"):
        value = fn.labels.get(label)
        if value is not None and (not value.isdigit() or int(value) > MAX_REPLICAS):
            found.append(f"label {label}={value!r} must be an integer ≤ {MAX_REPLICAS}")
    for key in ("build_args", "environment"):
        if fn.raw.get(key) is not None and not isinstance(fn.raw.get(key), dict):
            found.append(f"{key} must be a map (faas-cli cannot unmarshal a list)")
    if fn.raw.get("namespace") not in (None, "openfaas-fn"):
        found.append("namespace must be openfaas-fn on CE")
    return found
