"""The body of a multi-document apply, {"items": [definition, ...]}, read and checked whole.

Every item is validated before any is stored, and every problem is reported at once, each
field named by its item's place (items[2].spec.port), so the user fixes the file in one go.
"""

from __future__ import annotations

from swsapi.errors import in_item, invalid_request
from swscore.spec import Definition, SpecError, load_definition

MAX_ITEMS = 100


def load_items(body: dict) -> list[Definition]:
    """The items' definitions; a 400 naming every bad item and field otherwise."""
    unknown = sorted(set(body) - {"items"})
    if unknown:
        raise invalid_request(
            f"unknown field {unknown[0]!r}; the body holds only items",
            {key: "unknown field" for key in unknown},
        )
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise invalid_request(
            f"items must be a list of 1 to {MAX_ITEMS} definitions",
            {"items": f"must be a list of 1 to {MAX_ITEMS} definitions"},
        )
    definitions, problems = [], {}
    for index, item in enumerate(items):
        try:
            definitions.append(load_definition(item))
        except SpecError as err:
            problems.update(in_item(err, index, None).fields)
    if problems:
        raise SpecError(problems)
    _check_distinct_names(definitions)
    return definitions


def _check_distinct_names(definitions: list[Definition]) -> None:
    first: dict[str, int] = {}
    problems = {}
    for index, definition in enumerate(definitions):
        earlier = first.setdefault(definition.name, index)
        if earlier != index:
            problems[f"items[{index}].spec.name"] = (
                f"{definition.name} is also the name of items[{earlier}]"
            )
    if problems:
        path, message = next(iter(problems.items()))
        raise invalid_request(f"{path}: {message}; each service once per apply", problems)
