"""stack.yml is what faas-cli and OpenFaaS CE accept (../shared/docs/openfaas.md §2, §10, §11).

The checks walk every function in the file, so functions added later are covered as well.
"""

from __future__ import annotations

import pytest
import yaml

from autostock.errors import ConfigError
from autostock.runtime import nginx, stack
from autostock.runtime.handlers import load_all
from tests.helpers import ROOT
from tests.runtime.conftest import write_stack

TEMPLATES = ROOT / "templates"


@pytest.fixture(scope="module")
def project_stack() -> stack.Stack:
    return stack.load(ROOT / "stack.yml", {})


def test_stack_yml_has_nothing_faas_cli_or_ce_refuses(project_stack):
    assert stack.problems(project_stack) == []
    assert project_stack.functions, "stack.yml declares no function"
    assert (ROOT / "template").resolve() == TEMPLATES.resolve()  # faas-cli looks in ./template


def test_every_function_has_a_handler_image_and_parsed_triggers(project_stack):
    for fn in project_stack.functions.values():
        assert fn.handler.name == fn.name.replace("-", "_")
        assert fn.image.endswith(f"/autostock-{fn.name}:dev"), fn.image
        assert fn.routes or fn.topics or fn.schedule, f"{fn.name} has no route and no trigger"
        topic = fn.annotations.get("topic")
        if topic == "cron-function":
            assert fn.schedule
        for subject in fn.topics:
            assert " " not in subject and subject == subject.strip(".")


def test_every_handler_of_the_stack_imports(project_stack):
    assert set(load_all(project_stack)) == set(project_stack.functions)


def test_configuration_copy_paths_exist(project_stack):
    copies = project_stack.raw["configuration"]["copy"]
    assert "./shared" in copies
    for path in copies:
        assert (ROOT / path).is_dir(), path


def test_public_routes_are_not_claimed_twice(project_stack):
    seen: dict[str, str] = {}
    for route in project_stack.routes():
        assert str(route) not in seen, f"{route} is declared by {seen.get(str(route))} and {route.function}"
        seen[str(route)] = route.function


def _spec(**function: object) -> dict:
    base = {"lang": "autostock-python", "handler": "./functions/f", "image": "r/f:dev"}
    return {"version": "1.0", "provider": {"name": "openfaas"}, "functions": {"f": {**base, **function}}}


@pytest.mark.parametrize(("spec", "complaint"), [
    ({**_spec(), "provider": {"name": "faasd"}}, "provider.name"),
    ({**_spec(), "version": "2.0"}, "version"),
    (_spec(lang="python3-nope"), "template folder"),
    (_spec(handler="./functions/missing"), "no handler.py"),
    (_spec(image=""), "image is missing"),
    (_spec(labels={"com.openfaas.scale.zero": "true"}), "refused"),
    (_spec(labels={"com.openfaas.scale.type": "rps"}), "refused"),
    (_spec(labels={"com.openfaas.scale.target": "50"}), "refused"),
    (_spec(labels={"com.openfaas.scale.max": "6"}), "≤ 5"),
    (_spec(labels={"com.openfaas.scale.min": "x"}), "≤ 5"),
    (_spec(build_args=["A=1"]), "must be a map"),
    (_spec(namespace="default"), "openfaas-fn"),
])
def test_problems_name_what_ce_would_refuse(tmp_path, spec, complaint):
    write_stack(tmp_path, {"f": {}})
    (tmp_path / "stack.yml").write_text(yaml.safe_dump(spec))
    found = stack.problems(stack.load(tmp_path / "stack.yml", {}), TEMPLATES)
    assert any(complaint in p for p in found), found


def test_more_than_fifteen_functions_is_refused(tmp_path):
    st = stack.load(write_stack(tmp_path, {f"f{i}": {} for i in range(16)}), {})
    assert any("at most 15" in p for p in stack.problems(st, TEMPLATES))


@pytest.mark.parametrize(("annotations", "message"), [
    ({"topic": "cron-function", "schedule": "every minute"}, "valid 5-field schedule"),
    ({"topic": "cron-function"}, "valid 5-field schedule"),
    ({"topic": "orders.filled,cron-function"}, "whole topic"),
    ({"com.autostock.routes": "api/v1/x"}, "must start with /"),
    ({"com.autostock.routes": "FETCH /api/v1/x"}, "unknown method"),
])
def test_bad_triggers_and_routes_fail_loading_naming_the_function(tmp_path, annotations, message):
    with pytest.raises(ConfigError, match=message) as e:
        stack.load(write_stack(tmp_path, {"bad-fn": annotations}), {})
    assert "bad-fn" in str(e.value)


def test_envsubst_uses_the_environment_then_defaults():
    text = "a: ${A}\nb: ${B:-two}\nc: ${C:-}\nd: ${D-four}"
    assert stack.envsubst(text, {"A": "one", "B": "", "D": "x"}) == "a: one\nb: two\nc: \nd: x"


def test_gateway_config_lists_every_route(project_stack, tmp_path):
    text = nginx.render(project_stack)
    for route in project_stack.routes():
        assert f"location = {route.path} {{" in text
        assert f"location ^~ {route.path}/ {{" in text
        assert f'"{route.function}"' in text


def test_gateway_config_sends_methods_to_their_function(tmp_path):
    from tests.runtime.conftest import FUNCTIONS
    text = nginx.render(stack.load(write_stack(tmp_path, FUNCTIONS), {}))
    block = text.split("location = /api/v1/things {")[1].split("\n}\n")[0]
    assert 'set $function "things";' in block
    assert 'if ($request_method = POST) { set $function "placer"; }' in block
    hooks = text.split("location ^~ /api/v1/hooks/ {")[1].split("\n}\n")[0]
    assert 'set $function "";' in hooks and '"hooks"' in hooks
