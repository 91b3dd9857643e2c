"""Several definitions at once: a file of YAML documents (--- between them), a JSON list, or a
directory of such files, each document validated locally before anything is sent.

Every document keeps its own node tree, whose lines are the file's, so a problem is named by
file, document number, field path and line, and so is one the server reports for items[N].
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import BinaryIO

import yaml

from swsctl.definition import (
    STDIN,
    DefinitionFile,
    checked_definition,
    json_nodes,
    parse_document,
    read_bytes,
    yaml_problem,
)
from swsctl.errors import FieldProblem, InvalidDefinition, InvalidInput

SUFFIXES = (".yaml", ".yml", ".json")
_ITEM = re.compile(r"^items\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True)
class DefinitionSet:
    """The definitions of one apply, in order; items[N] in the server's answers is files[N]."""

    files: list[DefinitionFile]

    def to_send(self) -> list[dict]:
        return [found.to_send() for found in self.files]

    def line(self, path: str) -> int | None:
        found, rest = self._item(path)
        return found.line(rest) if found else None

    def label(self, path: str) -> str:
        """items[2].spec.port -> `web.yaml (document 3): spec.port`."""
        found, rest = self._item(path)
        return f"{found.source}: {rest or '(document)'}" if found else path

    def _item(self, path: str) -> tuple[DefinitionFile | None, str]:
        match = _ITEM.match(path)
        if match is None or int(match.group(1)) >= len(self.files):
            return None, path
        return self.files[int(match.group(1))], match.group(2)


def read_definitions(
    path: str, stdin: BinaryIO | None = None, *, validate: bool = True
) -> DefinitionSet:
    """Every definition in a file, stdin (`-`) or a directory's *.yaml, *.yml and *.json
    (sorted); every problem of every document at once, and none returned if one is bad."""
    sources = [path]
    if path != STDIN and os.path.isdir(path):
        sources = [
            os.path.join(path, entry)
            for entry in sorted(os.listdir(path))
            if entry.endswith(SUFFIXES) and os.path.isfile(os.path.join(path, entry))
        ]
        if not sources:
            raise InvalidInput(f"{path} holds no *.yaml, *.yml or *.json file")
    found: list[DefinitionFile] = []
    refused: list[InvalidInput] = []
    for source in sources:
        text = _text(source, stdin)
        for document, root, label in split_documents(
            text, "<stdin>" if source == STDIN else source
        ):
            try:
                found.append(checked_definition(document, root, label, validate=validate))
            except InvalidInput as err:
                refused.append(err)
    if len(refused) == 1:
        raise refused[0]
    if refused:
        raise InvalidInput("\n".join(err.message for err in refused))
    return DefinitionSet(found)


def split_documents(text: str, source: str) -> list[tuple[object, yaml.Node | None, str]]:
    """(document, its node tree, its label) for each document of the text; the label is the
    source alone for a file of one document, `source (document N)` otherwise."""
    if not text.strip():
        raise InvalidDefinition(source, [FieldProblem("(document)", "the file is empty")])
    if text.lstrip()[:1] in "{[":
        document, root = parse_document(text, source)
        if not isinstance(document, list):
            return [(document, root, source)]
        if not document:
            raise InvalidDefinition(source, [FieldProblem("(document)", "the list is empty")])
        if root is None:
            root = json_nodes(text)
        nodes = root.value if isinstance(root, yaml.SequenceNode) else [None] * len(document)
        return _labelled(list(zip(document, nodes, strict=True)), source)
    try:
        roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        raise InvalidDefinition(source, [yaml_problem(err)]) from None
    # An empty document (a `---` at the end of the file) is no definition.
    pairs = [(doc, node) for doc, node in zip(documents, roots, strict=True) if doc is not None]
    if not pairs:
        raise InvalidDefinition(source, [FieldProblem("(document)", "the file is empty")])
    return _labelled(pairs, source)


def _labelled(pairs, source: str) -> list[tuple[object, yaml.Node | None, str]]:
    if len(pairs) == 1:
        return [(pairs[0][0], pairs[0][1], source)]
    return [(doc, node, f"{source} (document {n})") for n, (doc, node) in enumerate(pairs, 1)]


def _text(source: str, stdin: BinaryIO | None) -> str:
    raw = read_bytes(source, stdin)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        where = "<stdin>" if source == STDIN else source
        raise InvalidInput(f"{where} is not UTF-8 text (byte {err.start})") from None
