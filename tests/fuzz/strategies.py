"""Hypothesis strategies for hostile input: JSON junk, awkward text, header values, raw bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Text with everything that tends to break parsers: controls, NUL, RTL marks, emoji, surrogate-free.
AWKWARD_CHARS = st.characters(codec="utf-8")
awkward_text = st.one_of(
    st.text(AWKWARD_CHARS, max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\r\n\r\n",
            "\u202e\u200b\ufeff",
            "𝕯𝖊𝖘𝖐🛟",
            "'; DROP TABLE employees; --",
            "<script>alert(1)</script>",
            "{{ 7*7 }}",
            "%s%n%x",
            "../../etc/passwd",
            "null",
            "9" * 400,
        ]
    ),
)
huge_text = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["a", "é", "🛟", "\x00", " "]), st.integers(0, 300_000)
)
field_text = st.one_of(awkward_text, awkward_text, huge_text)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    awkward_text,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(awkward_text, children, max_size=4)
    ),
    max_leaves=12,
)

# Latin-1 range only: that is what an HTTP header value decodes to.
header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=80)


def deeply_nested_json(depth: int, *, as_list: bool = True) -> bytes:
    """``[[[...]]]`` or ``{"a":{"a":...}}`` ``depth`` levels deep (beyond Python's recursion limit)."""
    if as_list:
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


nesting_bombs = st.sampled_from(
    [
        deeply_nested_json(50_000),
        deeply_nested_json(50_000, as_list=False),
        b'{"event": ' + deeply_nested_json(20_000) + b"}",
    ]
)


def mutate_json(value: dict[str, Any], replacement: Any, path: list[str], drop: bool) -> dict[str, Any]:
    """A copy of ``value`` with the key at ``path`` replaced by ``replacement`` (or dropped)."""
    copy: dict[str, Any] = json.loads(json.dumps(value))
    node: Any = copy
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return copy
        node = node[key]
    if isinstance(node, dict):
        if drop:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = replacement
    return copy
