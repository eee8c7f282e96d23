"""Ids: the ones the gateway makes up when the other side sent none, and tool ids made safe
for Anthropic's grammar.

Made-up ids carry the prefix of the format the client reads (`msg_`, `toolu_`, `call_`,
`resp_`), so they look like the real ones to SDKs and logs.
"""

from __future__ import annotations

import hashlib
import re
import uuid

_ANTHROPIC_TOOL_ID = re.compile(r"[A-Za-z0-9_-]+")
_NOT_IN_ANTHROPIC_TOOL_ID = re.compile(r"[^A-Za-z0-9_-]")


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def new_tool_use_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def new_response_id() -> str:
    return f"resp_{uuid.uuid4().hex}"


def anthropic_tool_id(raw: str) -> str:
    """`raw` if Anthropic accepts it, else a rewrite (docs/formats.md#tools). The
    rewrite depends on the id alone, so a call and its result still match without a lookup
    table; the hash keeps ids that differ only in replaced characters apart."""
    if _ANTHROPIC_TOOL_ID.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    return f"{_NOT_IN_ANTHROPIC_TOOL_ID.sub('_', raw)[:48]}_{digest}"
