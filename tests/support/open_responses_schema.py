"""What the Open Responses spec requires of the answers mitmllm builds, as JSON Schema.

Written for this project from the spec's schemas in openresponses/openresponses; the spec's
own OpenAPI file is not vendored (nothing from another repository is committed here). Each
definition names the spec file it comes from:

- the TypeSpec sources `schema/responses.tsp`, `items.tsp`, `content.tsp`, `events.tsp`,
  `tools.tsp`, `configuration.tsp`, published as `public/openapi/openapi.json` (version
  2026-04-24);
- the earlier published component files `schema/components/schemas/*.json`, which require a
  few fields the TypeSpec release left optional (`logprobs` on `output_text` and on
  `response.output_text.delta/done`, `user` on the Response). Where one revision requires a
  field that the other only allows, the field is required here: an answer that has it
  satisfies both.

Only what the spec requires is written down: required keys, types, nullability, enums and
constants. Objects stay open (`additionalProperties` is not restricted), as in the spec.
Where mitmllm only ever emits a subset of a spec union (message content, summary parts), the
definition names that subset, so a part of another type would be reported.

Things mitmllm sends that Open Responses does not define are written after OpenAI's
definitions (openai-python `types/responses/`) and allowed only when asked for
(`extensions=True`): the `custom_tool_call` output item with its
`response.custom_tool_call_input.delta/done` events, and OpenAI's `custom`, `namespace` and
hosted tools in the echoed `tools`. They appear only when the client declared such tools
(Codex does).

    check("ResponseResource", response)          # AssertionError listing every violation
    check_event(event)                           # picks the definition by `type`
    check_event(event, extensions=True)          # also accepts OpenAI's custom tool events
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

Schema = dict[str, Any]

# -- helpers ------------------------------------------------------------------------------


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _const(value: str) -> Schema:
    return {"type": "string", "const": value}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these required keys; further keys are allowed, as in the spec."""
    return {"type": "object", "required": list(required),
            "properties": {**required, **(optional or {})}}


def _by_type(definitions: dict[str, str], other: str | None = None) -> Schema:
    """A union discriminated by `type`: one definition per `type` value; any other type is
    refused, or checked against definition `other`. (An if/then chain rather than oneOf,
    so a violation names the member that failed.)"""
    rules: list[Schema] = [{"if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                            "then": _ref(name)} for kind, name in definitions.items()]
    kinds: Schema = {"enum": list(definitions)}
    if other is not None:
        rules.append({"if": {"properties": {"type": {"not": kinds}}}, "then": _ref(other)})
        kinds = STRING
    return {"type": "object", "required": ["type"], "properties": {"type": kinds},
            "allOf": rules}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}

# -- content (content.tsp; components OutputTextContent.json) -----------------------------

_CONTENT: dict[str, Schema] = {
    # content.tsp TopLogProb / LogProb.
    "TopLogProb": _object({"token": STRING, "logprob": NUMBER,
                           "bytes": {"type": "array", "items": INTEGER}}),
    "LogProb": _object({"token": STRING, "logprob": NUMBER,
                        "bytes": {"type": "array", "items": INTEGER},
                        "top_logprobs": {"type": "array", "items": _ref("TopLogProb")}}),
    # content.tsp UrlCitationBody, the only member of the Annotation union.
    "Annotation": _object({"type": _const("url_citation"), "url": STRING,
                           "start_index": INTEGER, "end_index": INTEGER, "title": STRING}),
    # components/schemas/OutputTextContent.json requires `logprobs`; content.tsp makes it
    # optional (`logprobs?: LogProb[]`). Required here, so an answer satisfies both.
    "OutputTextContent": _object({
        "type": _const("output_text"), "text": STRING,
        "annotations": {"type": "array", "items": _ref("Annotation")},
        "logprobs": {"type": "array", "items": _ref("LogProb")}}),
    # content.tsp RefusalContent.
    "RefusalContent": _object({"type": _const("refusal"), "refusal": STRING}),
    # content.tsp SummaryTextContent and ReasoningTextContent.
    "SummaryTextContent": _object({"type": _const("summary_text"), "text": STRING}),
    "ReasoningTextContent": _object({"type": _const("reasoning_text"), "text": STRING}),
    # What an assistant message holds: items.tsp Message.content is the wider ContentPart
    # union, of which model output uses these two.
    "AssistantContent": _by_type({"output_text": "OutputTextContent",
                                  "refusal": "RefusalContent"}),
}

# -- output items (items.tsp) ---------------------------------------------------------------

# items.tsp MessageStatus and FunctionCallStatus: the item state machine.
ITEM_STATUS: Schema = {"type": "string", "enum": ["in_progress", "completed", "incomplete"]}

_ITEMS: dict[str, Schema] = {
    # items.tsp Message: role is the MessageRole enum; an answer's message is the assistant's.
    "Message": _object({"type": _const("message"), "id": STRING, "status": ITEM_STATUS,
                        "role": _const("assistant"),
                        "content": {"type": "array", "items": _ref("AssistantContent")}}),
    # items.tsp FunctionCall.
    "FunctionCall": _object({"type": _const("function_call"), "id": STRING,
                             "call_id": STRING, "name": STRING, "arguments": STRING,
                             "status": ITEM_STATUS}),
    # items.tsp ReasoningBody: `summary` required; `content` and `encrypted_content`
    # optional but, when present, an array and a string (not nullable in the output body;
    # only ReasoningItemParam, the input form, allows null).
    "ReasoningBody": _object(
        {"type": _const("reasoning"), "id": STRING,
         "summary": {"type": "array", "items": _ref("SummaryTextContent")}},
        {"content": {"type": "array", "items": _ref("ReasoningTextContent")},
         "encrypted_content": STRING}),
    # Not in Open Responses: OpenAI's ResponseCustomToolCallItem (openai-python
    # types/responses/response_custom_tool_call_item.py): a call of a freeform `custom` tool.
    "CustomToolCall": _object({"type": _const("custom_tool_call"), "id": STRING,
                               "call_id": STRING, "name": STRING, "input": STRING,
                               "status": ITEM_STATUS}),
}

# -- tools and settings echoed in the Response (tools.tsp, configuration.tsp) ---------------

_TOOLS: dict[str, Schema] = {
    # tools.tsp FunctionTool: all five keys required; description, parameters and strict
    # may be null. (The request's FunctionToolParam has them optional: the Response must
    # fill them in.)
    "FunctionTool": _object({"type": _const("function"), "name": STRING,
                             "description": _nullable(STRING),
                             "parameters": _nullable(OBJECT),
                             "strict": _nullable(BOOLEAN)}),
    # Not in Open Responses: OpenAI's CustomTool and NamespaceTool (openai-python
    # types/responses/custom_tool.py, namespace_tool.py), as the client declared them.
    "CustomTool": _object({"type": _const("custom"), "name": STRING}),
    "NamespaceTool": _object({"type": _const("namespace"), "name": STRING,
                              "tools": {"type": "array", "items": _ref("NamespacedTool")}}),
    "NamespacedTool": _object({"type": {"enum": ["function", "custom"]}, "name": STRING}),
    # OpenAI's hosted tools (web_search, tool_search, shell, ...; openai-python
    # types/responses/tool.py): the client declared them and the Response echoes them,
    # although another provider cannot run them and mitmllm drops them from its request.
    "OpenAIHostedTool": _object({"type": STRING}),
    # tools.tsp ToolChoiceValueEnum, FunctionToolChoice, AllowedToolChoice (mode required).
    "ToolChoiceValue": {"type": "string", "enum": ["none", "auto", "required"]},
    "FunctionToolChoice": _object({"type": _const("function")}, {"name": STRING}),
    "AllowedToolChoice": _object({"type": _const("allowed_tools"),
                                  "tools": {"type": "array",
                                            "items": _ref("FunctionToolChoice")},
                                  "mode": _ref("ToolChoiceValue")}),
    "ToolChoice": {"anyOf": [_ref("ToolChoiceValue"), _ref("FunctionToolChoice"),
                             _ref("AllowedToolChoice")]},
    # configuration.tsp TextField: `format` required, one of three formats.
    "TextField": _object({"format": _by_type({"text": "TextResponseFormat",
                                              "json_object": "JsonObjectResponseFormat",
                                              "json_schema": "JsonSchemaResponseFormat"})},
                         {"verbosity": {"type": "string", "enum": ["low", "medium", "high"]}}),
    "TextResponseFormat": _object({"type": _const("text")}),
    "JsonObjectResponseFormat": _object({"type": _const("json_object")}),
    # configuration.tsp JsonSchemaResponseFormat: all five required, description nullable.
    # (The published file types `schema` as null, an artifact of its `unknown`: only the
    # key's presence is checked.)
    "JsonSchemaResponseFormat": _object({"type": _const("json_schema"), "name": STRING,
                                         "description": _nullable(STRING), "schema": {},
                                         "strict": BOOLEAN}),
    # configuration.tsp Reasoning: both keys required, both nullable. The effort enum is
    # ReasoningEffortEnum; its x-enumDescriptions also describe `minimal`, which OpenAI
    # accepts, so it is allowed too.
    "Reasoning": _object({
        "effort": _nullable({"type": "string",
                             "enum": ["none", "minimal", "low", "medium", "high", "xhigh"]}),
        "summary": _nullable({"type": "string", "enum": ["concise", "detailed", "auto"]})}),
}

# -- the Response (responses.tsp; components ResponseResource.json) -------------------------

_RESPONSE: dict[str, Schema] = {
    # responses.tsp InputTokensDetails, OutputTokensDetails, Usage: all keys required.
    "Usage": _object({"input_tokens": INTEGER, "output_tokens": INTEGER,
                      "total_tokens": INTEGER,
                      "input_tokens_details": _object({"cached_tokens": INTEGER}),
                      "output_tokens_details": _object({"reasoning_tokens": INTEGER})}),
    # responses.tsp Error (the Response's `error`): code and message, both strings.
    "Error": _object({"code": STRING, "message": STRING}),
    # responses.tsp IncompleteDetails.
    "IncompleteDetails": _object({"reason": STRING}),
    # responses.tsp ResponseResource: every key below is required. `user` is required by
    # components/schemas/ResponseResource.json (the TypeSpec release dropped it). `status`
    # is a string in the schema; the values are the specification's response state machine.
    "ResponseResource": _object({
        "id": STRING,
        "object": _const("response"),
        "created_at": INTEGER,
        "completed_at": _nullable(INTEGER),
        "status": {"type": "string", "enum": ["queued", "in_progress", "completed", "failed",
                                              "incomplete", "cancelled"]},
        "incomplete_details": _nullable(_ref("IncompleteDetails")),
        "model": STRING,
        "previous_response_id": _nullable(STRING),
        "instructions": _nullable(STRING),
        "output": {"type": "array", "items": _ref("OutputItem")},
        "error": _nullable(_ref("Error")),
        "tools": {"type": "array", "items": _ref("Tool")},
        "tool_choice": _ref("ToolChoice"),
        "truncation": {"type": "string", "enum": ["auto", "disabled"]},
        "parallel_tool_calls": BOOLEAN,
        "text": _ref("TextField"),
        "top_p": NUMBER,
        "presence_penalty": NUMBER,
        "frequency_penalty": NUMBER,
        "top_logprobs": INTEGER,
        "temperature": NUMBER,
        "reasoning": _nullable(_ref("Reasoning")),
        "user": _nullable(STRING),
        "usage": _nullable(_ref("Usage")),
        "max_output_tokens": _nullable(INTEGER),
        "max_tool_calls": _nullable(INTEGER),
        "store": BOOLEAN,
        "background": BOOLEAN,
        "service_tier": STRING,
        # responses.tsp says `unknown`, components/schemas/ResponseResource.json MetadataParam:
        # at most 16 string values.
        "metadata": {"type": "object", "maxProperties": 16,
                     "additionalProperties": {"type": "string", "maxLength": 512}},
        "safety_identifier": _nullable(STRING),
        "prompt_cache_key": _nullable(STRING),
    }),
}

# -- streaming events (events.tsp; components *StreamingEvent.json) ------------------------


def _event(kind: str, fields: dict[str, Schema] | None = None) -> Schema:
    """Every event has its `type` constant and an integer `sequence_number`."""
    return _object({"type": _const(kind), "sequence_number": {"type": "integer", "minimum": 0},
                    **(fields or {})})


_ITEM_REF = {"item_id": STRING, "output_index": INTEGER}
_PART_REF = {**_ITEM_REF, "content_index": INTEGER}
_SUMMARY_REF = {**_ITEM_REF, "summary_index": INTEGER}
_LOGPROBS = {"logprobs": {"type": "array", "items": _ref("LogProb")}}

# Event type -> (definition name, schema). The names are those of events.tsp.
_EVENTS: dict[str, tuple[str, Schema]] = {
    # events.tsp Response{Created,InProgress,Completed,Incomplete,Failed}StreamingEvent.
    **{f"response.{state}": (name, _event(f"response.{state}",
                                          {"response": _ref("ResponseResource")}))
       for state, name in [("created", "ResponseCreatedStreamingEvent"),
                           ("in_progress", "ResponseInProgressStreamingEvent"),
                           ("completed", "ResponseCompletedStreamingEvent"),
                           ("incomplete", "ResponseIncompleteStreamingEvent"),
                           ("failed", "ResponseFailedStreamingEvent")]},
    # events.tsp ResponseOutputItem{Added,Done}StreamingEvent: `item` is `ItemField | null`;
    # mitmllm always sends the item.
    "response.output_item.added": ("ResponseOutputItemAddedStreamingEvent", _event(
        "response.output_item.added", {"output_index": INTEGER, "item": _ref("OutputItem")})),
    "response.output_item.done": ("ResponseOutputItemDoneStreamingEvent", _event(
        "response.output_item.done", {"output_index": INTEGER, "item": _ref("OutputItem")})),
    # events.tsp ResponseContentPart{Added,Done}StreamingEvent.
    "response.content_part.added": ("ResponseContentPartAddedStreamingEvent", _event(
        "response.content_part.added", {**_PART_REF, "part": _ref("AssistantContent")})),
    "response.content_part.done": ("ResponseContentPartDoneStreamingEvent", _event(
        "response.content_part.done", {**_PART_REF, "part": _ref("AssistantContent")})),
    # components/schemas/ResponseOutputText{Delta,Done}StreamingEvent.json require
    # `logprobs`; events.tsp makes it optional. Required here, as on OutputTextContent.
    "response.output_text.delta": ("ResponseOutputTextDeltaStreamingEvent", _event(
        "response.output_text.delta", {**_PART_REF, "delta": STRING, **_LOGPROBS})),
    "response.output_text.done": ("ResponseOutputTextDoneStreamingEvent", _event(
        "response.output_text.done", {**_PART_REF, "text": STRING, **_LOGPROBS})),
    # events.tsp ResponseRefusal{Delta,Done}StreamingEvent.
    "response.refusal.delta": ("ResponseRefusalDeltaStreamingEvent", _event(
        "response.refusal.delta", {**_PART_REF, "delta": STRING})),
    "response.refusal.done": ("ResponseRefusalDoneStreamingEvent", _event(
        "response.refusal.done", {**_PART_REF, "refusal": STRING})),
    # events.tsp ResponseFunctionCallArguments{Delta,Done}StreamingEvent.
    "response.function_call_arguments.delta": (
        "ResponseFunctionCallArgumentsDeltaStreamingEvent",
        _event("response.function_call_arguments.delta", {**_ITEM_REF, "delta": STRING})),
    "response.function_call_arguments.done": (
        "ResponseFunctionCallArgumentsDoneStreamingEvent",
        _event("response.function_call_arguments.done", {**_ITEM_REF, "arguments": STRING})),
    # events.tsp ResponseReasoningSummaryPart{Added,Done}StreamingEvent: `part` is the
    # ContentPart union; a summary part is summary_text.
    "response.reasoning_summary_part.added": (
        "ResponseReasoningSummaryPartAddedStreamingEvent",
        _event("response.reasoning_summary_part.added",
               {**_SUMMARY_REF, "part": _ref("SummaryTextContent")})),
    "response.reasoning_summary_part.done": (
        "ResponseReasoningSummaryPartDoneStreamingEvent",
        _event("response.reasoning_summary_part.done",
               {**_SUMMARY_REF, "part": _ref("SummaryTextContent")})),
    # events.tsp ResponseReasoningSummary{Delta,Done}StreamingEvent.
    "response.reasoning_summary_text.delta": (
        "ResponseReasoningSummaryDeltaStreamingEvent",
        _event("response.reasoning_summary_text.delta", {**_SUMMARY_REF, "delta": STRING})),
    "response.reasoning_summary_text.done": (
        "ResponseReasoningSummaryDoneStreamingEvent",
        _event("response.reasoning_summary_text.done", {**_SUMMARY_REF, "text": STRING})),
    # events.tsp ErrorStreamingEvent and ErrorPayload: all four payload keys required,
    # code and param nullable.
    "error": ("ErrorStreamingEvent", _event("error", {"error": _object({
        "type": STRING, "code": _nullable(STRING), "message": STRING,
        "param": _nullable(STRING)})})),
}

# Not in Open Responses: OpenAI's ResponseCustomToolCallInput{Delta,Done}Event (openai-python
# types/responses/response_custom_tool_call_input_{delta,done}_event.py).
_EXTENSION_EVENTS: dict[str, tuple[str, Schema]] = {
    "response.custom_tool_call_input.delta": (
        "ResponseCustomToolCallInputDeltaEvent",
        _event("response.custom_tool_call_input.delta", {**_ITEM_REF, "delta": STRING})),
    "response.custom_tool_call_input.done": (
        "ResponseCustomToolCallInputDoneEvent",
        _event("response.custom_tool_call_input.done", {**_ITEM_REF, "input": STRING})),
}

EVENT_TYPES = frozenset(_EVENTS)
EXTENSION_EVENT_TYPES = frozenset(_EXTENSION_EVENTS)


def definitions(*, extensions: bool = False) -> dict[str, Schema]:
    """Every definition, with the unions of output items and tools either as Open Responses
    defines them or widened by OpenAI's custom tools and namespaces."""
    items = {"message": "Message", "function_call": "FunctionCall",
             "reasoning": "ReasoningBody"}
    tools = {"function": "FunctionTool"}
    if extensions:
        items["custom_tool_call"] = "CustomToolCall"
        tools |= {"custom": "CustomTool", "namespace": "NamespaceTool"}
    events = {**_EVENTS, **(_EXTENSION_EVENTS if extensions else {})}
    return {**_CONTENT, **_ITEMS, **_TOOLS, **_RESPONSE,
            # items.tsp ItemField (the members an answer can hold) and tools.tsp Tool.
            "OutputItem": _by_type(items),
            "Tool": _by_type(tools, "OpenAIHostedTool" if extensions else None),
            **dict(events.values())}


@cache
def _validator(name: str, extensions: bool) -> Draft202012Validator:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$defs": definitions(extensions=extensions), **_ref(name)}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def violations(name: str, instance: Any, *, extensions: bool = False) -> list[str]:
    """Every way `instance` breaks definition `name`, as `path: message` lines."""
    return sorted(_describe(error) for error in
                  _validator(name, extensions).iter_errors(instance))


def _describe(error: ValidationError) -> str:
    path = "/".join(map(str, error.absolute_path)) or "<root>"
    # anyOf (a nullable value, a tool choice): say why the closest non-null branch failed.
    # A branch failing on more than its kind (type, const, enum) is the one that was meant.
    branches = [sub for sub in error.context or [] if sub.schema != {"type": "null"}]
    meant = [sub for sub in branches if sub.validator not in ("type", "const", "enum")]
    if branches:
        return f"{path}: {best_match(meant or branches).message}"
    return f"{path}: {error.message}"


def check(name: str, instance: Any, *, extensions: bool = False) -> None:
    errors = violations(name, instance, extensions=extensions)
    assert not errors, f"not a conformant {name}:\n  " + "\n  ".join(errors)


def event_definition(event_type: str, *, extensions: bool = False) -> str:
    table = {**_EVENTS, **(_EXTENSION_EVENTS if extensions else {})}
    assert event_type in table, f"{event_type!r} is not an event this schema defines"
    return table[event_type][0]


def check_event(event: dict[str, Any], *, extensions: bool = False) -> None:
    """Check one streaming event against the definition its `type` names."""
    check(event_definition(str(event.get("type")), extensions=extensions), event,
          extensions=extensions)
