"""`autostock build-context --out build`: each function's Docker build context, laid out as
`faas-cli build --shrinkwrap` writes it (template files, the handler folder as `function/`,
and every `configuration.copy` path inside `function/`), so any builder can take it from there
(`docker buildx build --platform linux/arm64 build/<name>`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from autostock.errors import ConfigError
from autostock.runtime.stack import Stack

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", "calls.jsonl",
                                "build", ".venv", ".data")


def write(stack: Stack, out: Path, templates: Path | None = None) -> list[Path]:
    """Write `out/<function>/` for every function; returns the folders written."""
    templates = templates or stack.root / "templates"
    copies = [str(p) for p in (stack.raw.get("configuration") or {}).get("copy") or []]
    written = []
    for fn in stack.functions.values():
        template = templates / fn.lang
        if not (template / "template.yml").is_file():
            raise ConfigError(f"{fn.name}: no template {fn.lang} in {templates}")
        target = out / fn.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(template, target, ignore=IGNORE)
        shutil.copytree(fn.handler, target / "function", ignore=IGNORE)
        for extra in copies:
            source = (stack.root / extra).resolve()
            if not source.is_relative_to(stack.root):
                raise ConfigError(f"configuration.copy path {extra} is outside the project")
            destination = target / "function" / source.relative_to(stack.root)
            if source.is_dir():
                shutil.copytree(source, destination, ignore=IGNORE, dirs_exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
        written.append(target)
    return written
