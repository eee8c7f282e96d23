"""Comments around the providers list stay where they were through add, edit and remove
(docs/architecture.md#configuration: the CLI keeps the file's comments).

ruamel.yaml hangs a comment on the deepest last value before it, so a comment written after
the list used to move into whatever the last provider ended with: a new `headers:` map
(between the key and its first entry), a models list. Here every shape the last provider can
end with meets every edit, and the comment's place is checked in the written text: still
right before `local:`, and the comment above a provider still right above it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mitmllm.config.store import DEFAULT_CONFIG_TEXT, ConfigDocument

HEADING = "  # heading of the list\n"
ABOVE_B = "  # about b\n\n      # an indented note about b\n"
AFTER = "# after the list\n#  - name: example\n\n    # indented, after a blank line\n"
LOCAL = "local:\n  enabled: false\n"

# How the last provider (b) ends: a scalar, a nested map, a list, in block and flow style.
ENDINGS = {
    "scalar": "    auth: none\n",
    "scalar-with-comment": "    auth: none   # no key needed\n",
    "block-map": "    headers:\n      X-Team: blue\n",
    "block-map-with-comment": "    headers:\n      X-Team: blue   # the team\n",
    "flow-map": "    headers: {X-Team: blue}\n",
    "block-list": "    models:\n      - m1\n      - m2\n",
    "flow-list": "    models: [m1, m2]\n",
    "empty-list": "    models: []\n",
    "nested-list-in-map": "    headers:\n      X-Team: blue\n    models:\n      - m1\n",
}


def document_text(ending: str, tail: str = LOCAL) -> str:
    return ("listen:\n  port: 1400\nproviders:\n" + HEADING +
            "  - name: a\n    host: a.test\n" + ABOVE_B +
            "  - name: b\n    host: b.test\n" + ending + AFTER + tail)


Edit = Callable[[ConfigDocument], object]
Change = Callable[[list[dict[str, Any]]], object]

# (what the CLI does to the document, the same change on plain data)
EDITS: dict[str, tuple[Edit, Change]] = {
    "add": (lambda d: d.add_provider({"name": "c", "host": "c.test"}),
            lambda p: p.append({"name": "c", "host": "c.test"})),
    "add-with-headers": (
        lambda d: d.add_provider({"name": "c", "host": "c.test", "headers": {"X-A": "1"}}),
        lambda p: p.append({"name": "c", "host": "c.test", "headers": {"X-A": "1"}})),
    "add-with-models": (
        lambda d: d.add_provider({"name": "c", "host": "c.test", "models": ["x", "y"]}),
        lambda p: p.append({"name": "c", "host": "c.test", "models": ["x", "y"]})),
    "edit-last-add-headers": (lambda d: d.update_provider("b", {"headers": {"X-New": "1"}}),
                              lambda p: p[1].update(headers={"X-New": "1"})),
    "edit-last-add-models": (lambda d: d.update_provider("b", {"models": ["z"]}),
                             lambda p: p[1].update(models=["z"])),
    "edit-last-add-scalar": (lambda d: d.update_provider("b", {"timeout": 5}),
                             lambda p: p[1].update(timeout=5)),
    "edit-last-drop-its-last-field": (
        lambda d: d.update_provider("b", {"auth": None, "headers": None, "models": None}),
        lambda p: [p[1].pop(k, None) for k in ("auth", "headers", "models")]),
    "edit-first-add-headers": (lambda d: d.update_provider("a", {"headers": {"X-A": "1"}}),
                               lambda p: p[0].update(headers={"X-A": "1"})),
    "remove-last": (lambda d: d.remove_provider("b"), lambda p: p.pop(1)),
    "remove-first": (lambda d: d.remove_provider("a"), lambda p: p.pop(0)),
    "remove-both": (lambda d: (d.remove_provider("b"), d.remove_provider("a")),
                    lambda p: p.clear()),
}


# The edits that drop b's `auth` or replace its `headers`, and their end-of-line comments.
KEEP_NOT_AUTH = {"remove-last", "remove-both", "edit-last-drop-its-last-field"}
KEEP_NOT_HEADERS = KEEP_NOT_AUTH | {"edit-last-add-headers"}


def edited(path: Path, text: str, edit: Edit) -> str:
    path.write_text(text, encoding="utf-8")
    document = ConfigDocument(path)
    edit(document)
    document.save()
    return path.read_text(encoding="utf-8")


def assert_comments_in_place(text: str, edit_name: str) -> None:
    assert AFTER + "local:\n" in text, text
    removed = {"remove-last": {"b"}, "remove-first": {"a"}, "remove-both": {"a", "b"}}
    gone = removed.get(edit_name, set())
    if "b" not in gone and "a" not in gone:
        assert "providers:\n" + HEADING + "  - name: a\n" in text, text
        assert ABOVE_B + "  - name: b\n" in text, text
    if gone == {"a"}:  # b is first now: its comment (less blank lines) is the list's heading
        assert "providers:\n  # about b\n      # an indented note about b\n  - name: b\n" \
            in text, text
    if "b" in gone:
        assert "# about b" not in text  # it described b
    if gone == {"a", "b"}:
        assert "providers: []\n" in text and "# heading of the list" in text


@pytest.mark.parametrize("edit_name", list(EDITS))
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_comments_around_the_list_stay_through_every_edit(tmp_path: Path, ending: str,
                                                          edit_name: str) -> None:
    original = document_text(ENDINGS[ending])
    edit, change = EDITS[edit_name]
    text = edited(tmp_path / "config.yaml", original, edit)

    assert_comments_in_place(text, edit_name)
    # A comment at the end of a value's line stays with the value while the value stays.
    if ending == "scalar-with-comment" and edit_name not in KEEP_NOT_AUTH:
        assert "    auth: none   # no key needed\n" in text, text
    if ending == "block-map-with-comment" and edit_name not in KEEP_NOT_HEADERS:
        assert "      X-Team: blue   # the team\n" in text, text
    expected = copy.deepcopy(yaml.safe_load(original))
    change(expected["providers"])
    assert yaml.safe_load(text) == expected
    # Read and written again unchanged: nothing drifts from one edit to the next.
    assert ConfigDocument(tmp_path / "config.yaml").dump() == text


@pytest.mark.parametrize("edit_name", ["add-with-headers", "edit-last-add-models",
                                       "remove-last"])
@pytest.mark.parametrize("ending", ["scalar", "block-map", "flow-list"])
def test_a_comment_after_a_list_that_ends_the_file_stays_at_the_end(
        tmp_path: Path, ending: str, edit_name: str) -> None:
    text = edited(tmp_path / "config.yaml", document_text(ENDINGS[ending], tail=""),
                  EDITS[edit_name][0])
    assert text.endswith(AFTER), text


@pytest.mark.parametrize("fields", [
    {"headers": {"X-Team": "blue"}}, {"models": ["a", "b"]}, {"secret_headers": ["X-Org"]},
    {"timeout": 30}], ids=["headers", "models", "secret_headers", "scalar"])
def test_the_default_files_example_stays_before_local(tmp_path: Path,
                                                      fields: dict[str, Any]) -> None:
    path = tmp_path / "config.yaml"  # no file yet: the commented default
    example = DEFAULT_CONFIG_TEXT[DEFAULT_CONFIG_TEXT.index("# Example"):
                                  DEFAULT_CONFIG_TEXT.index("local:")]
    document = ConfigDocument(path)
    document.add_provider({"name": "one", "host": "one.test", **fields})
    document.save()
    document = ConfigDocument(path)
    document.add_provider({"name": "two", "host": "two.test", **fields})
    document.save()
    document = ConfigDocument(path)
    document.update_provider("two", {"headers": {"X-More": "1"}, "models": ["m"]})
    document.save()
    text = path.read_text(encoding="utf-8")
    assert text.index(example) + len(example) == text.index("\nlocal:\n") + 1, text
    assert text.index("  - name: two") < text.index("X-More") < text.index(example)
    for name in ("one", "two"):
        document = ConfigDocument(path)
        document.remove_provider(name)
        document.save()
    assert path.read_text(encoding="utf-8") == DEFAULT_CONFIG_TEXT


def test_a_hash_line_inside_a_block_scalar_is_content_not_a_comment(tmp_path: Path) -> None:
    original = ("providers:\n  - name: a\n    host: a.test\n    headers:\n      X-Note: |\n"
                "        first line\n        # part of the value\n  - name: b\n"
                "    host: b.test\nlocal:\n  enabled: false\n")
    text = edited(tmp_path / "config.yaml", original,
                  lambda d: d.update_provider("a", {"timeout": 5}))
    note = yaml.safe_load(text)["providers"][0]["headers"]["X-Note"]
    assert note == "first line\n# part of the value\n"
