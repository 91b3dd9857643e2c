"""Reading definitions: YAML or JSON by content, the v1 schema, and errors pointing at lines."""

import io
import json
from pathlib import Path

import pytest

from swsctl.definition import line_of, parse_definition, read_definition, split_path
from swsctl.errors import InvalidDefinition, InvalidInput

DATA = Path(__file__).parent.parent / "data"
SEED = DATA / "seed-example.yaml"

GOOD_YAML = """\
apiVersion: v1
spec:
  name: web
  port: 8080
  domain: web.example.com
  image: nginx:1.25
  env:
    - name: A
      value: "1"
"""


def refused(text: str, source: str = "web.yaml") -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(text, source)
    return caught.value


def by_path(err: InvalidDefinition) -> dict:
    return {p.path: p for p in err.problems}


def test_the_seed_example_is_refused_naming_env_1_with_lines():
    with pytest.raises(InvalidDefinition) as caught:
        read_definition(str(SEED))
    problems = by_path(caught.value)
    assert problems["spec.env[1].bar"].message == "unknown field"
    assert problems["spec.env[1].bar"].line == 12
    # The missing value points at the list item where it has to be added.
    assert problems["spec.env[1].value"].line == 11
    assert "spec.env[1].bar (line 12): unknown field" in str(caught.value)
    assert str(SEED) in str(caught.value)


def test_the_seed_example_fixed_is_accepted():
    fixed = SEED.read_text().replace("      bar: bar", "      value: bar")
    found = parse_definition(fixed, "fixed.yaml")
    assert found.definition.name == "service-name"
    assert [(e.name, e.value) for e in found.definition.env] == [("KEY_1", "foo"), ("KEY_2", "bar")]


def test_json_is_recognised_by_content_whatever_the_extension(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(json.dumps(__import__("yaml").safe_load(GOOD_YAML), indent=2))
    assert read_definition(str(path)).definition.domain == "web.example.com"


def test_yaml_in_a_json_named_file_is_read_as_yaml(tmp_path):
    path = tmp_path / "web.json"
    path.write_text(GOOD_YAML)
    assert read_definition(str(path)).definition.port == 8080


def test_a_yaml_flow_mapping_is_not_mistaken_for_broken_json():
    text = "{apiVersion: v1, spec: {name: web, port: 80, domain: a.example, image: nginx}}"
    assert parse_definition(text, "flow.yaml").definition.name == "web"


def test_stdin_is_read_for_dash():
    found = read_definition("-", stdin=io.BytesIO(GOOD_YAML.encode()))
    assert found.source == "<stdin>"
    assert found.definition.image == "nginx:1.25"


def test_json_errors_point_at_the_line_of_the_bad_field():
    document = json.loads(json.dumps(__import__("yaml").safe_load(GOOD_YAML)))
    document["spec"]["port"] = "eighty"
    document["spec"]["env"][0]["colour"] = "blue"
    err = refused(json.dumps(document, indent="\t"), "web.json")
    problems = by_path(err)
    lines = json.dumps(document, indent="\t").splitlines()
    assert '"port"' in lines[problems["spec.port"].line - 1]
    assert '"colour"' in lines[problems["spec.env[0].colour"].line - 1]


def test_broken_json_reports_its_line():
    err = refused('{\n  "apiVersion": "v1",\n  "spec": {\n    "name": "web",,\n  }\n}\n')
    (problem,) = err.problems
    assert problem.path == "(document)"
    assert problem.line == 4
    assert "not valid JSON" in problem.message


def test_broken_yaml_reports_its_line():
    err = refused("apiVersion: v1\nspec:\n  name: web\n   port: 80\n")
    (problem,) = err.problems
    assert problem.line == 4
    assert "not valid YAML" in problem.message


def test_two_documents_in_one_file_are_refused():
    err = refused(GOOD_YAML + "---\n" + GOOD_YAML)
    assert "one service definition per file" in str(err)


def test_a_key_given_twice_is_refused_rather_than_silently_dropped():
    text = GOOD_YAML.replace("  port: 8080\n", "  port: 8080\n  port: 9090\n")
    problems = by_path(refused(text))
    assert problems["spec.port"].line == 5
    assert "given twice (lines 4 and 5)" in problems["spec.port"].message


def test_a_missing_required_field_points_at_its_mapping():
    problems = by_path(refused(GOOD_YAML.replace("  image: nginx:1.25\n", "")))
    assert problems["spec.image"].message == "required field is missing"
    assert problems["spec.image"].line == 2  # the `spec:` line, where it belongs


def test_empty_and_non_mapping_documents_are_refused():
    assert "empty" in str(refused("   \n"))
    not_a_mapping = refused("- just\n- a list\n")
    assert [p.path for p in not_a_mapping.problems] == ["(document)"]
    assert "must be a mapping with apiVersion and spec" in str(not_a_mapping)


def test_an_unreadable_file_is_invalid_input_not_a_traceback(tmp_path):
    with pytest.raises(InvalidInput, match="No such file"):
        read_definition(str(tmp_path / "missing.yaml"))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidInput, match="UTF-8"):
        read_definition(str(tmp_path / "binary.yaml"))


def test_the_wrong_api_version_is_named():
    problems = by_path(refused(GOOD_YAML.replace("apiVersion: v1", "apiVersion: v2")))
    assert problems["apiVersion"].line == 1


def test_split_path():
    assert split_path("spec.env[1].bar") == ["spec", "env", 1, "bar"]
    assert split_path("(document)") == []
    assert split_path("apiVersion") == ["apiVersion"]


def test_line_of_unknown_paths_falls_back_to_the_nearest_parent():
    found = parse_definition(GOOD_YAML, "web.yaml")
    assert line_of(found.root, "spec.env[0].value") == 9
    assert line_of(found.root, "spec.env[7].value") == 7  # no such item: the env key
    assert line_of(found.root, "spec.name") == 3
    assert line_of(None, "spec.name") is None
