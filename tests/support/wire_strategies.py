"""Hypothesis strategies for the property tests of the translators
(tests/translators/test_properties_*.py): JSON bodies and SSE events in the three wire
formats, both fully random and "near-valid" (a real request, answer or stream with a few
values changed to something else, which is where a translator's bugs hide).

The valid bodies are the vectors (tests/vectors), the recorded agent requests
(tests/fixtures/agents), each of them translated to the other formats, and one tool
continuation carrying sealed reasoning. The vocabulary (keys, `type` and `role` values,
event names) is read from the same bodies and the recorded streams rather than listed by
hand, so a format feature that gets a vector is fuzzed too.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from mitmllm.translators import hub
from mitmllm.translators.anthropic.provider_answer import AnthropicToChatStream
from mitmllm.translators.errors import TranslationError
from mitmllm.translators.formats import FORMATS, Format
from mitmllm.translators.reasoning import ANTHROPIC, DIALECTS, RESPONSES, SEAL_PREFIX, seal
from mitmllm.translators.responses.provider_answer import ResponsesToChatStream
from mitmllm.translators.sse import DONE, SSEDecoder, SSEEvent

TESTS = Path(__file__).resolve().parent.parent
VECTORS = sorted((TESTS / "vectors").glob("*.json"))
AGENTS = sorted((TESTS / "fixtures" / "agents").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text())
    return value


def _requests() -> dict[Format, list[dict[str, Any]]]:
    found: dict[Format, list[dict[str, Any]]] = {f: [] for f in FORMATS}
    for path in VECTORS:
        vector = _load(path)
        for fmt in FORMATS:
            for key in (f"{fmt}_request", f"{fmt}_request_recorded"):
                if isinstance(vector.get(key), dict):
                    found[fmt].append(vector[key])
    for path in AGENTS:
        recorded = _load(path)
        if recorded["method"] == "POST" and isinstance(recorded.get("body"), dict):
            client: Format = "anthropic" if path.name.startswith("claude") else "responses"
            found[client].append(recorded["body"])
    return found


def _answers() -> dict[Format, list[dict[str, Any]]]:
    found: dict[Format, list[dict[str, Any]]] = {f: [] for f in FORMATS}
    for path in VECTORS:
        vector = _load(path)
        for fmt in FORMATS:
            if isinstance(vector.get(f"{fmt}_response"), dict):
                found[fmt].append(vector[f"{fmt}_response"])
    return found


def _streams() -> list[tuple[str, Format, bytes]]:
    """Every recorded stream: (vector, its format, its raw bytes). The `<format>_sse` fields
    are valid streams of that format whichever side of a translation they were on."""
    found: list[tuple[str, Format, bytes]] = []
    for path in VECTORS:
        vector = _load(path)
        for fmt in FORMATS:
            for key in (f"{fmt}_sse", f"{fmt}_sse_verbatim"):
                if isinstance(vector.get(key), str):
                    found.append((f"{path.stem}:{key}", fmt, vector[key].encode()))
    return found


def _derived(found: dict[Format, list[dict[str, Any]]],
             translate: Any) -> dict[Format, list[dict[str, Any]]]:
    """More valid bodies of each format: the others' translated to it (a Chat request with
    the reasoning details and seals an Anthropic or Responses conversation turns into, ...)."""
    out: dict[Format, list[dict[str, Any]]] = {f: list(found[f]) for f in FORMATS}
    for source in FORMATS:
        for target in FORMATS:
            if source == target:
                continue
            for body in found[source]:
                try:
                    out[target].append(translate(source, target, body))
                except TranslationError:
                    continue
    return out


def _continuation() -> dict[str, Any]:
    """An Anthropic tool continuation whose thinking block carries another provider's
    reasoning, sealed by mitmllm: a conversation that moved between providers
    (docs/formats.md#reasoning). The recordings have none."""
    sealed_reasoning = seal([{"type": "reasoning.text", "text": "Look it up.", "format": RESPONSES,
                              "id": "rs_1"},
                             {"type": "reasoning.encrypted", "data": "gAAAAB", "format": RESPONSES,
                              "id": "rs_1"}], None)
    return {
        "model": "claude-sonnet-4-5", "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "get_weather", "input_schema": {
            "type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [
            {"role": "user", "content": "Weather in SF?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Look it up.", "signature": sealed_reasoning},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "SF"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
        ],
    }


def _with_continuation(found: dict[Format, list[dict[str, Any]]]
                       ) -> dict[Format, list[dict[str, Any]]]:
    found["anthropic"].append(_continuation())
    return found


REQUESTS = _derived(_with_continuation(_requests()),
                    lambda source, target, body: hub.translate_request(source, target,
                                                                       body).body)
# An answer in `target`'s format: the translation for a `target` client of `source`'s answer.
ANSWERS = _derived(_answers(),
                   lambda source, target, body: hub.translate_response(
                       target, source, body, REQUESTS[target][0]))
STREAMS = _streams()


def decoded(raw: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.decode(raw) + decoder.flush()


_WORD = re.compile(r"[a-z][a-z0-9_.\-/]{0,40}")


def _vocabulary() -> tuple[list[str], list[str]]:
    """Every key, and every short identifier-like string value, of the bodies and the
    stream events above."""
    keys: set[str] = set()
    words: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                keys.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and _WORD.fullmatch(value):
            words.add(value)

    for bodies in (*REQUESTS.values(), *ANSWERS.values()):
        walk(bodies)
    for _name, _fmt, raw in STREAMS:
        for event in decoded(raw):
            if event.event:
                words.add(event.event)
            if not event.is_done:
                walk(json.loads(event.data))
    return sorted(keys), sorted(words)


KEYS, WORDS = _vocabulary()
_WORD_SET = frozenset(WORDS)

# Event names per provider format: what the translators dispatch on, and what was recorded.
EVENT_NAMES: dict[Format, list[str]] = {
    "anthropic": sorted({*AnthropicToChatStream.HANDLERS, "ping", "error", "message_stop"}),
    "responses": sorted({*ResponsesToChatStream.HANDLERS, "error", "response.failed"}),
    "openai": ["error"],
}

# Strings a translator reads specially, beyond the recorded ones.
SPECIAL = [
    "", " ", DONE, SEAL_PREFIX, SEAL_PREFIX + "eyJ4IjoxfQ", "data:image/png;base64,iVBORw0KGgo=",
    "data:application/pdf;base64,JVBERi0=", "data:", "data:image/png;base64", "https://x/y.png",
    '{"a": 1}', "{", "[]", "null", "-1", "1e400", "auto", "none", "required", "any", "tool",
    "function", "custom", "namespace", "enabled", "disabled", "adaptive", "user", "assistant",
    "system", "developer", "\ud800", "\U0001f600", ANTHROPIC, RESPONSES, *DIALECTS,
    "reasoning.text", "reasoning.summary", "reasoning.encrypted",
]

# Lone surrogates are valid JSON (`"\ud800"`), so clients and providers can send them.
_ANY_CHAR = st.characters(codec=None)
_SIMPLE = st.none() | st.booleans() | st.integers(-1, 3) | st.sampled_from(["", "x", [], {}])


def sealed(payload: Any) -> str:
    """A string in the shape of mitmllm's reasoning seal (translators/reasoning.py), whatever
    it holds: a client may send back anything that starts like one."""
    data = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return SEAL_PREFIX + data


_DETAILS = st.fixed_dictionaries(
    {"type": st.sampled_from(["reasoning.text", "reasoning.summary", "reasoning.encrypted"])
     | _SIMPLE, "format": st.sampled_from([ANTHROPIC, RESPONSES]) | _SIMPLE},
    optional={name: st.text(max_size=4) | _SIMPLE
              for name in ("id", "text", "summary", "data", "signature", "index")})
seals = st.builds(lambda details, dialect: sealed({"d": details, "v": dialect}),
                  st.lists(_DETAILS, max_size=3) | _SIMPLE,
                  st.sampled_from([*DIALECTS, None]) | _SIMPLE)
texts = st.text(_ANY_CHAR, max_size=12) | st.sampled_from(WORDS + SPECIAL) | seals
numbers = (
    st.integers(min_value=-3, max_value=70000)
    | st.integers()
    | st.sampled_from([2**63, -(2**63), 10**400])
    | st.floats()  # NaN and infinities included: Python's json accepts them
)
scalars = st.none() | st.booleans() | numbers | texts
keys = st.sampled_from(KEYS) | st.text(max_size=6)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=5),
        max_leaves=max_leaves,
    )


any_json = json_values()
# A value of another type than the one there, the usual shape of a client's mistake.
wrong_types = st.sampled_from([None, True, 0, -1, 1.5, "", "x", [], {}, [None], [{}],
                               {"type": None}, {"type": "text"}])

json_objects = st.dictionaries(keys, any_json, max_size=8)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with one to three edits, each at a node picked evenly among its objects, lists
    and settings (a known word such as a `type` or `role`, a number, a flag): the node
    replaced by a value of another type or by any JSON, or a key or item removed or added.
    Never changes `base` itself; copies only the path to each edit."""
    value = base
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_nodes(value, remember=value is base)))
        value = _replaced(value, where, _changed(draw, _at(value, where), top=not where))
    return value


def _changed(draw: st.DrawFn, node: Any, *, top: bool) -> Any:
    action = draw(st.integers(0, 2))
    if isinstance(node, dict):
        if node and action == 1:  # a key removed
            key = draw(st.sampled_from(list(node)))
            return {k: v for k, v in node.items() if k != key}
        if action == 2 or top:  # a known key added, or given another value
            return {**node, draw(keys): draw(wrong_types | any_json)}
    if isinstance(node, list):
        at = draw(st.integers(0, len(node)))
        if node and action == 1:  # an item removed
            return node[:at] + node[at + 1:]
        if action == 2:  # an item added, or one repeated
            item = node[at - 1] if node and draw(st.booleans()) else draw(any_json)
            return [*node[:at], item, *node[at:]]
    return draw(wrong_types | any_json)


Where = tuple[str | int, ...]
_DEPTH = 50  # far below Python's recursion limit, far above any real body
_NODES: dict[int, tuple[Any, list[Where]]] = {}


def _nodes(body: Any, *, remember: bool) -> list[Where]:
    """The paths to the nodes of `body` worth an edit: every object and list, and every
    setting (a value a translator compares with a word of its format, or reads as a number
    or a flag) but not free text. Remembered for the bodies the strategies start from."""
    cached = _NODES.get(id(body))
    if cached is not None and cached[0] is body:
        return cached[1]
    paths: list[Where] = []

    def walk(value: Any, path: Where) -> None:
        if len(path) > _DEPTH:  # an edited event may hold a deeply nested value
            return
        if isinstance(value, dict):
            paths.append(path)
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            paths.append(path)
            for index, item in enumerate(value):
                walk(item, (*path, index))
        elif not isinstance(value, str) or value in _WORD_SET:
            paths.append(path)

    walk(body, ())
    if remember:
        _NODES[id(body)] = (body, paths)
    return paths


def _at(value: Any, where: Where) -> Any:
    for step in where:
        value = value[step]
    return value


def _replaced(value: Any, where: Where, new: Any) -> Any:
    if not where:
        return new
    head, rest = where[0], where[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


def near_valid(bases: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(bases).flatmap(mutated)


def bodies(bases: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Near-valid bodies most of the time, fully random ones otherwise."""
    return st.one_of(near_valid(bases), near_valid(bases), json_objects)


# -- stream events ---------------------------------------------------------------------------

# Valid JSON nested deeper than `json.loads` goes; and a value `json.loads` reads but a
# translator walking it recursively cannot.
def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_text(depth: int) -> str:
    return '{"type": "text", "text": ' * depth + '""' + "}" * depth


# Named, so that hypothesis shows the strategy without its 200 kB value.
deep = st.just(100_000).map(nested_list)
deepish = st.just(3000).map(nested_text)


def event_data(fmt: Format) -> st.SearchStrategy[str]:
    kinds = st.sampled_from(EVENT_NAMES[fmt] + WORDS)
    typed = st.builds(lambda kind, body: json.dumps({**body, "type": kind}), kinds,
                      json_objects)
    deep_typed = st.builds(lambda kind, key, value: f'{{"type": {json.dumps(kind)}, '
                           f"{json.dumps(key)}: {value}}}", kinds, st.sampled_from(KEYS), deepish)
    return st.one_of(
        typed,
        deep_typed,
        deep,
        any_json.map(json.dumps),
        st.sampled_from([DONE, "", " ", "{", "not json", "null", "[]", '{"error": {}}',
                         '{"error": "x"}', '{"choices": [{}]}']),
        st.text(_ANY_CHAR, max_size=20),
    )


def random_events(fmt: Format) -> st.SearchStrategy[SSEEvent]:
    names = st.none() | st.sampled_from(EVENT_NAMES[fmt]) | st.text(max_size=8)
    return st.builds(SSEEvent, event_data(fmt), names)


def _object(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


@st.composite
def near_valid_events(draw: st.DrawFn, fmt: Format) -> list[SSEEvent]:
    """A recorded stream of `fmt` with a few events edited (payload mutated, dropped,
    repeated) and possibly cut short."""
    recorded = [(name, raw) for name, f, raw in STREAMS if f == fmt]
    _name, raw = draw(st.sampled_from(recorded))
    events = decoded(raw)
    for _ in range(draw(st.integers(1, 3))):
        if not events:
            break
        at = draw(st.integers(0, len(events) - 1))
        action = draw(st.integers(0, 3))
        payload = _object(events[at].data)
        if action == 0 and payload is not None:
            events[at] = SSEEvent(json.dumps(draw(mutated(payload))), events[at].event)
        elif action == 1:
            del events[at]
        elif action == 2:
            events.insert(at, events[at])
        else:
            events[at] = draw(random_events(fmt))
    if draw(st.booleans()):
        events = events[:draw(st.integers(0, len(events)))]
    return events


def event_lists(fmt: Format) -> st.SearchStrategy[list[SSEEvent]]:
    return st.one_of(near_valid_events(fmt), near_valid_events(fmt),
                     st.lists(random_events(fmt), max_size=8))
