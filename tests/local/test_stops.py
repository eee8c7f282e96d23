"""Stop strings over streamed pieces (local/stops.py).

The rule: the text sent is the generated text cut before the first occurrence of any stop
string, whatever the split into pieces; and nothing is sent that is later taken back. Since
sent text is never retracted, "joined output == cut text" for every split proves both.
"""

from __future__ import annotations

import random

import pytest

from mitmllm.local.stops import StopMatcher

CASES = [
    # (generated text, stops, expected text, stopped)
    ("Hello world. Bye.", [], "Hello world. Bye.", False),
    ("Hello world. Bye.", ["."], "Hello world", True),
    ("Hello world. Bye.", ["world", "Hello"], "", True),
    ("Hello world. Bye.", ["Bye", "o w"], "Hell", True),
    ("abababc", ["abc"], "abab", True),
    ("aaab", ["aab"], "a", True),
    ("no match here", ["xyz", "herex"], "no match here", False),
    ("ends with a prefix of the st", ["stop"], "ends with a prefix of the st", False),
    ("unicode: héllo → wörld", ["→"], "unicode: héllo ", True),
    ("<|end|>after", ["<|end|>"], "", True),
]


def splits(text: str) -> list[list[str]]:
    rng = random.Random(text)
    out = [[text], list(text)]
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(text)), k=min(4, len(text) - 1)))
        out.append([text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)])
    return out


@pytest.mark.parametrize(("text", "stops", "expected", "stopped"), CASES)
def test_output_is_text_cut_at_first_stop_for_every_split(
    text: str, stops: list[str], expected: str, stopped: bool
) -> None:
    for pieces in splits(text):
        matcher = StopMatcher(stops)
        sent = [matcher.feed(p) for p in pieces]
        sent.append(matcher.flush())
        assert "".join(sent) == expected, pieces
        assert matcher.stopped is stopped


def test_possible_prefix_is_held_then_released_when_it_does_not_complete() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("go ST") == "go "
    assert matcher.feed("O") == ""
    assert matcher.feed("P!") == ""
    assert matcher.stopped

    matcher = StopMatcher(["STOP"])
    assert matcher.feed("go ST") == "go "
    assert matcher.feed("ORM") == "STORM"
    assert matcher.flush() == ""


def test_after_a_stop_nothing_more_is_sent() -> None:
    matcher = StopMatcher(["x"])
    assert matcher.feed("ax") == "a"
    assert matcher.feed("more") == ""
    assert matcher.flush() == ""
