"""Read a service definition file (YAML or JSON, told apart by content) and validate it locally.

Validation is swscore.spec's, the same code the server runs, so a typo is caught before any
network call. Field paths from the schema (spec.env[1].bar) are mapped back to lines of the
file through the YAML node tree, which keeps every node's position.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import BinaryIO

import yaml

from swscore.spec import Definition, SpecError, load_definition
from swsctl.errors import FieldProblem, InvalidDefinition, InvalidInput
from swsctl.output import MASK

MAX_BYTES = 1024 * 1024
STDIN = "-"
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class DefinitionFile:
    """A parsed, locally valid definition and what is needed to point at its lines."""

    source: str
    document: dict
    definition: Definition | None  # None when local validation was skipped
    root: yaml.Node | None

    @property
    def name(self) -> str:
        return self.document["spec"]["name"]

    def to_send(self) -> dict:
        """The normalised definition, or the document as written if validation was skipped."""
        return self.definition.document() if self.definition else self.document

    def line(self, path: str) -> int | None:
        """The file's line for a field path the schema or the server complains about."""
        return line_of(self.root, path)


def read_definition(
    path: str, stdin: BinaryIO | None = None, *, validate: bool = True
) -> DefinitionFile:
    """Read, parse and validate one definition; `-` reads `stdin`.

    validate=False skips the schema (for a server newer than this client) but still needs
    spec.name, which addresses the service.
    """
    source = "<stdin>" if path == STDIN else path
    raw = read_bytes(path, stdin)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInput(f"{source} is not UTF-8 text (byte {err.start})") from None
    return parse_definition(text, source, validate=validate)


def parse_definition(text: str, source: str, *, validate: bool = True) -> DefinitionFile:
    """Parse YAML or JSON text and validate it with the v1 schema."""
    document, root = parse_document(text, source)
    return checked_definition(document, root, source, validate=validate)


def checked_definition(
    document, root: yaml.Node | None, source: str, *, validate: bool = True
) -> DefinitionFile:
    """One parsed document validated with the v1 schema; `root` points at its lines."""
    from_get = is_get_output(document)
    if from_get:
        document = {key: document[key] for key in ("apiVersion", "spec") if key in document}
    document = env_values_as_written(document, root)
    duplicates = duplicate_keys(root)
    if duplicates:
        raise InvalidDefinition(source, duplicates)
    masks = masked_values(document) if from_get else {}
    if masks:
        raise InvalidDefinition(source, problems_at(root, masks))
    if not validate:
        _require_name(document, root, source)
        return DefinitionFile(source, document, None, root)
    try:
        definition = load_definition(document)
    except SpecError as err:
        raise InvalidDefinition(source, problems_at(root, err.fields)) from None
    return DefinitionFile(source, document, definition, root)


def is_get_output(document) -> bool:
    """Whether this is `swsctl get -o yaml|json` output rather than a hand-written definition.

    That output is the service as the server keeps it: apiVersion and spec, plus what only
    the server writes (generation, status, times...). Applying it applies its spec and
    ignores the rest, as kubectl ignores status. `generation` marks it: a definition written
    by hand has none, and keeps its unknown top-level fields reported as typos.
    """
    return isinstance(document, dict) and "generation" in document and "spec" in document


def masked_values(document) -> dict[str, str]:
    """Env values that are the mask swsctl prints: applying them would store the mask."""
    env = document.get("spec", {}).get("env") if isinstance(document, dict) else None
    if not isinstance(env, list) or not isinstance(document["spec"], dict):
        return {}
    return {
        f"spec.env[{index}].value": (
            f"is {MASK}, the mask swsctl prints for hidden values; to apply the output of "
            "`swsctl get`, get it with --show-secrets"
        )
        for index, item in enumerate(env)
        if isinstance(item, dict) and item.get("value") == MASK
    }


def env_values_as_written(document, root: yaml.Node | None):
    """Env values exactly as the file writes them: YAML reads `0755` as 493, `yes` as true and
    `1.50` as 1.5, but the process must see 0755, yes and 1.50. An unquoted value is taken as
    its source text; null stays null (and is refused: quote it, or write "" for empty)."""
    env = document.get("spec", {}).get("env") if isinstance(document, dict) else None
    if not isinstance(env, list) or not isinstance(document["spec"], dict):
        return document
    for index, item in enumerate(env):
        if not isinstance(item, dict) or isinstance(item.get("value"), str | None):
            continue
        node = node_at(root, f"spec.env[{index}].value")
        if isinstance(node, yaml.ScalarNode) and node.style is None:
            item["value"] = node.value
    return document


def _require_name(document, root: yaml.Node | None, source: str) -> None:
    spec = document.get("spec") if isinstance(document, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or not name:
        message = "required to address the service, even without local validation"
        raise InvalidDefinition(source, problems_at(root, {"spec.name": message}))


def parse_document(text: str, source: str) -> tuple[object, yaml.Node | None]:
    """The document and its YAML node tree; JSON is recognised by its first character."""
    if not text.strip():
        raise InvalidDefinition(source, [FieldProblem("(document)", "the file is empty")])
    if text.lstrip()[:1] in "{[":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            # `{a: 1}` is not JSON but is a YAML flow mapping: let YAML have a go.
            try:
                return _parse_yaml(text, source)
            except InvalidDefinition:
                problem = FieldProblem(
                    "(document)", f"not valid JSON: {err.msg} (column {err.colno})", err.lineno
                )
                raise InvalidDefinition(source, [problem]) from None
        return document, json_nodes(text)
    return _parse_yaml(text, source)


def _parse_yaml(text: str, source: str) -> tuple[object, yaml.Node | None]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidDefinition(source, [yaml_problem(err)]) from None
    return document, root


def yaml_problem(err: yaml.YAMLError) -> FieldProblem:
    mark = getattr(err, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(err, "problem", None) or str(err)
    if "expected a single document" in str(err):
        problem = "holds more than one YAML document; put one service definition per file"
    return FieldProblem("(document)", f"not valid YAML: {problem}", line)


def json_nodes(text: str) -> yaml.Node | None:
    """JSON's node tree through the YAML composer, for line numbers only.

    Tabs are JSON whitespace but not YAML's; outside strings they can become spaces without
    moving any line, and strict JSON has no raw tabs inside strings.
    """
    try:
        return yaml.compose(text.replace("\t", " "), Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def read_bytes(path: str, stdin: BinaryIO | None) -> bytes:
    if path == STDIN:
        if stdin is None:
            raise InvalidInput("no standard input to read the definition from")
        data = stdin.read(MAX_BYTES + 1)
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as err:
            raise InvalidInput(f"cannot read {path}: {err.strerror}") from None
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_BYTES // 1024} KiB; is it a definition?")
    return data


# Paths to lines ------------------------------------------------------------------


def split_path(path: str) -> list[str | int]:
    """'spec.env[1].bar' -> ['spec', 'env', 1, 'bar']; '(document)' -> []."""
    if path.startswith("("):
        return []
    return [int(index) if index else key for key, index in _PATH_TOKEN.findall(path)]


def node_at(root: yaml.Node | None, path: str) -> yaml.Node | None:
    """The node a schema path names, or None when the path leaves the tree."""
    node = root
    for token in split_path(path):
        if isinstance(token, int) and isinstance(node, yaml.SequenceNode):
            node = node.value[token] if token < len(node.value) else None
        elif isinstance(token, str) and isinstance(node, yaml.MappingNode):
            match = _key(node, token)
            node = match[1] if match else None
        else:
            return None
    return node


def line_of(root: yaml.Node | None, path: str) -> int | None:
    """The 1-based line that a schema path points at, or the line of its nearest parent.

    A present key points at its own line; a missing key (a required field) at the line of
    the mapping's own key, which is where the user has to add it.
    """
    node, line = root, None
    for token in split_path(path):
        if isinstance(token, int) and isinstance(node, yaml.SequenceNode):
            if token >= len(node.value):
                return line
            node = node.value[token]
            line = node.start_mark.line + 1
        elif isinstance(token, str) and isinstance(node, yaml.MappingNode):
            match = _key(node, token)
            if match is None:
                return line
            key, node = match
            line = key.start_mark.line + 1
        else:
            return line
    return line


def _key(mapping: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = None
    for key, value in mapping.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            found = (key, value)  # the last one wins, as in the loaded document
    return found


def problems_at(root: yaml.Node | None, fields: dict[str, str]) -> list[FieldProblem]:
    return [FieldProblem(path, message, line_of(root, path)) for path, message in fields.items()]


def duplicate_keys(root: yaml.Node | None, prefix: str = "") -> list[FieldProblem]:
    """Keys given twice in one mapping: the parsers silently keep the last, hiding a typo."""
    problems: list[FieldProblem] = []
    if isinstance(root, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in root.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            path = f"{prefix}.{name}" if prefix else name
            line = key.start_mark.line + 1
            if name in seen:
                problems.append(
                    FieldProblem(path, f"given twice (lines {seen[name]} and {line})", line)
                )
            seen.setdefault(name, line)
            problems.extend(duplicate_keys(value, path))
    elif isinstance(root, yaml.SequenceNode):
        for index, item in enumerate(root.value):
            problems.extend(duplicate_keys(item, f"{prefix}[{index}]"))
    return problems
