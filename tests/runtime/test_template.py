"""The function template: `autostock build-context` lays out what faas-cli's shrinkwrap does,
and the context's index.py serves the handler the way the image will."""

from __future__ import annotations

import importlib.util
import sys

from autostock.runtime import build_context, stack
from tests.helpers import ROOT


def test_build_context_serves_the_handler_like_the_image(tmp_path, resources):
    st = stack.load(ROOT / "stack.yml", {})
    written = build_context.write(st, tmp_path)
    assert {p.name for p in written} == set(st.functions)
    admin = tmp_path / "admin"
    for name in ("Dockerfile", "index.py", "template.yml", "requirements.txt", "function/handler.py",
                 "function/shared/pyproject.toml", "function/shared/autostock/contract.py",
                 "function/docs/api/openapi.yaml"):
        assert (admin / name).is_file(), name
    assert not list(admin.rglob("__pycache__"))

    sys.path.insert(0, str(admin))
    try:
        spec = importlib.util.spec_from_file_location("autostock_image_index", admin / "index.py")
        index = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(index)
        client = index.app.test_client()
        r = client.get("/api/v1/health")
        assert r.status_code == 200 and r.json["ok"] is True
        assert r.headers["X-Request-Id"]
        missing = client.post("/api/v1/health/nothing")
        assert missing.status_code in (404, 405) and "error" in missing.json
    finally:
        sys.path.remove(str(admin))
        for name in [m for m in sys.modules if m == "function" or m.startswith("function.")]:
            del sys.modules[name]
