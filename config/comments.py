"""Comments around the providers list, kept where they were while the CLI edits it.

ruamel.yaml attaches a comment to the value before it: the comment above provider 2, or the
block between the list and `local:`, belongs to the deepest last value of the provider
before it. Edit that provider (a new last field, a value that becomes a nested map or
list) or append one after it, and the comment moves with it, e.g. into a new `headers:`
map, between its key and its first entry.

So `ConfigDocument` lifts these blocks out of the text before ruamel reads it, and puts each
back when the document is written, as a comment *before* what it was written above:

- the block above a provider (but the first) stays above that provider, and goes with it
  when it is removed;
- the block after the list stays before the next top-level key (`local:`), or at the end of
  the file when the list is last.

The block above the first provider is ruamel's "comment before the list" and stays there.
If lifting a block would change what the file means (a `#` line inside a block scalar), no
block is lifted and ruamel's own placement stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

LIST_KEY = "providers"


@dataclass
class ListComments:
    """The lifted blocks, each a list of lines (with their indentation, no newline)."""

    above: dict[int, list[str]] = field(default_factory=dict)  # provider index -> block
    after: list[str] = field(default_factory=list)  # after the list


def lift(reader: YAML, text: str) -> tuple[str, ListComments]:
    """The text without the blocks around the providers list, and the blocks."""
    lines = text.splitlines()
    try:
        data = reader.load(text)
    except YAMLError:  # the caller reports invalid YAML on its own
        return text, ListComments()
    if not isinstance(data, CommentedMap) or LIST_KEY not in data:
        return text, ListComments()
    floor = data.lc.key(LIST_KEY)[0]  # never lift above the `providers:` line itself
    owners: list[tuple[int | None, int]] = []  # (provider index or None for "after", line)
    providers = data[LIST_KEY]
    if isinstance(providers, CommentedSeq):
        for index in range(1, len(providers)):
            line = providers.lc.item(index)[0]
            if line < len(lines) and lines[line].lstrip().startswith("-"):
                owners.append((index, line))
    keys = list(data)
    position = keys.index(LIST_KEY)
    end = data.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else len(lines)
    owners.append((None, end))

    comments = ListComments()
    cut: set[int] = set()
    for owner, line in owners:
        start = line
        while start - 1 > floor and _is_comment_or_blank(lines[start - 1]):
            start -= 1
        block = lines[start:line]
        if owner is None and line == len(lines):
            while block and not block[-1].strip():
                block.pop()  # blank lines at the very end of the file are no comment
        if not block:
            continue
        cut.update(range(start, start + len(block)))
        if owner is None:
            comments.after = block
        else:
            comments.above[owner] = block
    if not cut:
        return text, ListComments()
    kept = "".join(line + "\n" for number, line in enumerate(lines) if number not in cut)
    if yaml.safe_load(kept) != yaml.safe_load(text):
        return text, ListComments()  # a lifted line was content (a block scalar)
    return kept, comments


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def attach(data: CommentedMap, above: list[list[str] | None], after: list[str]) -> str:
    """Put the blocks back as comments before what follows them: `above[i]` before provider
    i, `after` before the key after the list. Returns what must follow the dumped text
    (`after`, when the list is the last key)."""
    providers = data.get(LIST_KEY)
    if isinstance(providers, CommentedSeq):
        for slots in providers.ca.items.values():
            if len(slots) > 1:
                slots[1] = None  # what an earlier dump put there, before indices moved
        for index, block in enumerate(above):
            if block:
                _slots(providers.ca.items, index)[1] = tokens(block)
    keys = list(data)
    if LIST_KEY in keys and keys.index(LIST_KEY) + 1 < len(keys):
        following = keys[keys.index(LIST_KEY) + 1]
        _slots(data.ca.items, following)[1] = tokens(after) if after else None
        return ""
    return "".join(line + "\n" for line in after)


def _slots(items: dict[Any, list[Any]], key: Any) -> list[Any]:
    slots = items.setdefault(key, [None, None, None, None])
    while len(slots) < 4:
        slots.append(None)
    return slots


def tokens(block: list[str]) -> list[CommentToken]:
    """Comment tokens for lines of comments (or blank lines), each at its own column."""
    found = []
    for line in block:
        text = line.strip()
        column = len(line) - len(line.lstrip()) if text else 0
        found.append(CommentToken(text + "\n", CommentMark(column), None))
    return found
