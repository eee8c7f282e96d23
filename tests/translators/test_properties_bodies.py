"""Property tests of the whole-body entry points of the hub, with `hypothesis`: whatever JSON
object a client or a provider sends, a translation either gives a body mitmllm can write, or
raises one of the project's typed errors (`TranslationError`), which the addons answer in
the client's format. Any other exception would reach `@fails_closed` as a bug.

Why hypothesis: it is the maintained, widely used property-based testing library for Python
(frequent releases, typed, a pytest plugin), and its shrinking turns a failure into the
smallest body that shows it, which a hand-rolled fuzzer would not. The strategies are in
tests/support/wire_strategies.py; the settings profile (bounded, derandomized) in
conftest.py beside this file.

Bodies nested deeper than Python recurses are left out on purpose: the addons answer those
as "nested too deeply" (addons/translate.py, addons/translate_answer.py), and the
generated bodies are far shallower.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.wire_strategies import ANSWERS, REQUESTS, bodies, json_objects, mutated

from mitmllm.translators import hub
from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.errors import TranslationError
from mitmllm.translators.formats import FORMATS, Format
from mitmllm.translators.json_values import json_bytes
from mitmllm.translators.reasoning import ReasoningMemory

PAIRS = list(itertools.product(FORMATS, FORMATS))
PAIR_IDS = [f"{client}->{provider}" for client, provider in PAIRS]

options = st.builds(
    RequestOptions,
    max_tokens_default=st.integers(1, 200_000),
    hosted_tools=st.sampled_from(["drop", "refuse"]),
    memory=st.none() | st.builds(ReasoningMemory),
)


def written(value: Any) -> bytes:
    """`value` as the addons write it; raises if it is not JSON."""
    return json_bytes(value)


@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=PAIR_IDS)
@given(data=st.data())
def test_a_request_translates_or_raises_a_typed_error(client: Format, provider: Format,
                                                     data: st.DataObject) -> None:
    body = data.draw(bodies(REQUESTS[client]), label="body")
    given_options = data.draw(options, label="options")
    before = written(body)
    try:
        translated = hub.translate_request(client, provider, body, given_options)
    except TranslationError:
        pass
    else:
        assert isinstance(translated.body, dict)
        written(translated.body)
        assert all(isinstance(note, str) for note in translated.dropped)
        assert all(isinstance(note, str) for note in translated.defaulted)
    assert written(body) == before, "the client's body was changed"


def client_request(data: st.DataObject, client: Format, provider: Format) -> dict[str, Any]:
    """A client request as the answer's translation sees it: one the request translation
    accepted (the others were answered with a 400 and never reached a provider)."""
    base = data.draw(st.sampled_from(REQUESTS[client]), label="request base")
    request = data.draw(st.just(base) | mutated(base), label="request")
    try:
        hub.translate_request(client, provider, request)
    except TranslationError:
        return base
    return request


@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=PAIR_IDS)
@given(data=st.data())
def test_an_answer_translates_or_raises_a_typed_error(client: Format, provider: Format,
                                                     data: st.DataObject) -> None:
    request = client_request(data, client, provider)
    body = data.draw(bodies(ANSWERS[provider]), label="answer")
    memory = data.draw(st.none() | st.builds(ReasoningMemory), label="memory")
    before = written(body), written(request)
    try:
        answer = hub.translate_response(client, provider, body, request, memory=memory)
    except TranslationError:
        pass
    else:
        assert isinstance(answer, dict)
        written(answer)
    assert (written(body), written(request)) == before, "an input was changed"


@pytest.mark.parametrize("client", FORMATS)
@given(data=st.data())
def test_a_passthrough_repair_is_none_or_a_body_and_its_changes(client: Format,
                                                                data: st.DataObject) -> None:
    body = data.draw(bodies(REQUESTS[client]) | json_objects, label="body")
    raw = written(body)
    repaired = hub.repair_passthrough(client, body, raw)
    if repaired is not None:
        out, changes = repaired
        assert isinstance(out, dict)
        written(out)
        assert isinstance(changes, list) and changes
        assert all(isinstance(change, str) for change in changes)
    assert written(body) == raw, "the client's body was changed"
