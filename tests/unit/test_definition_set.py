"""swsctl reads several definitions at once (issue 24): YAML documents, a JSON list, a
directory; every problem named by file, document, field and line before anything is sent."""

import json

import pytest

from swsctl.definitionset import read_definitions
from swsctl.errors import InvalidDefinition, InvalidInput

FRONT = """\
apiVersion: v1
spec:
  name: front
  port: 8080
  domain: shop.example.com
  image: nginx:1.25
  stack: shop
"""
DB = """\
apiVersion: v1
spec:
  name: db
  port: 5432
  image: postgres:16
  volumeMount: /var/lib/postgresql/data
  stack: shop
"""


def test_yaml_documents_are_read_in_order_each_with_its_own_label(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(f"---\n{FRONT}---\n{DB}---\n")
    found = read_definitions(str(path))
    assert [f.name for f in found.files] == ["front", "db"]
    assert [f.source for f in found.files] == [f"{path} (document 1)", f"{path} (document 2)"]
    assert found.files[1].definition.domain is None
    # The server's items[1].spec.port is the second document's line 4 of the file (9 + 4).
    assert found.line("items[1].spec.port") == 13
    assert found.label("items[1].spec.port") == f"{path} (document 2): spec.port"


def test_one_bad_document_names_its_document_field_and_line_and_nothing_is_read(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(FRONT + "---\n" + DB.replace("port: 5432", "port: 0").replace("shop", "S!"))
    with pytest.raises(InvalidDefinition) as raised:
        read_definitions(str(path))
    message = raised.value.message
    assert f"{path} (document 2)" in message
    assert "spec.port (line 12)" in message and "spec.stack (line 15)" in message


def test_problems_of_several_documents_are_reported_together(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(FRONT.replace("8080", "x") + "---\n" + DB.replace("5432", "y"))
    with pytest.raises(InvalidInput) as raised:
        read_definitions(str(path))
    assert "(document 1)" in raised.value.message and "(document 2)" in raised.value.message
    assert "line 4" in raised.value.message and "line 12" in raised.value.message


def test_a_json_list_points_at_the_lines_of_each_item(tmp_path):
    import yaml

    items = [yaml.safe_load(FRONT), yaml.safe_load(DB)]
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(items, indent=2))
    found = read_definitions(str(path))
    assert [f.name for f in found.files] == ["front", "db"]
    text = path.read_text().splitlines()
    assert '"port": 5432' in text[found.line("items[1].spec.port") - 1]
    items[1]["spec"]["update"] = "sideways"
    path.write_text(json.dumps(items, indent=2))
    with pytest.raises(InvalidDefinition) as raised:
        read_definitions(str(path))
    assert f"{path} (document 2)" in raised.value.message and "spec.update" in raised.value.message


def test_a_directory_is_its_yaml_and_json_files_in_name_order(tmp_path):
    (tmp_path / "b-db.yml").write_text(DB)
    (tmp_path / "a-front.yaml").write_text(FRONT)
    (tmp_path / "README.md").write_text("not a definition")
    (tmp_path / "sub.yaml").mkdir()
    found = read_definitions(str(tmp_path))
    assert [f.name for f in found.files] == ["front", "db"]
    assert found.files[0].source == str(tmp_path / "a-front.yaml")  # one document: no number
    with pytest.raises(InvalidInput, match="holds no"):
        read_definitions(str(tmp_path / "sub.yaml"))


def test_a_single_document_reads_as_before(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(FRONT)
    (only,) = read_definitions(str(path)).files
    assert only.source == str(path) and only.line("spec.port") == 4
    for text in ("", "---\n---\n", "[]"):
        path.write_text(text)
        with pytest.raises(InvalidDefinition, match="empty"):
            read_definitions(str(path))
