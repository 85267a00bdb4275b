"""Dead letters: what a stream step could not handle, with why, where it came from, and its bytes.

A dead letter is a JSON object on the ``dead-letters`` topic. It keeps the original message
whole (base64, plus the text when it is short UTF-8, for people), the source topic, partition
and offset (so it can be found and replayed), and the reason: the error's stable code and the
fields it names.

>>> from events.parsing import parse_transaction
>>> try:
...     parse_transaction(b'{"tx_id": "t1"}')
... except Exception as error:
...     letter = dead_letter("transactions", 3, 42, b"c1", b'{"tx_id": "t1"}', error)
>>> body = orjson.loads(letter)
>>> body["reason"], body["source"], body["problems"][0]["field"]
('invalid_event', {'topic': 'transactions', 'partition': 3, 'offset': 42}, 'ts')
>>> base64.b64decode(body["value_b64"])
b'{"tx_id": "t1"}'
"""

from __future__ import annotations

import base64
import contextlib
import time
from typing import Any, Final

import orjson

from events.errors import EventValidationError, VerdictError

#: Original text kept readable up to this many characters (the bytes are always kept whole).
TEXT_PREVIEW: Final = 2_000


def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: BaseException,
) -> bytes:
    """The dead-letter message for one message a step could not handle."""
    code = error.code if isinstance(error, VerdictError) else "unexpected_error"
    body: dict[str, Any] = {
        "reason": code,
        "error": str(error)[:1000] or type(error).__name__,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "key_b64": base64.b64encode(key).decode() if key is not None else None,
        "value_b64": base64.b64encode(value).decode() if value is not None else None,
        "dead_at": round(time.time(), 3),
    }
    if isinstance(error, EventValidationError):
        body["problems"] = [{"field": p.field, "problem": p.problem} for p in error.problems]
    if value is not None and len(value) <= TEXT_PREVIEW:
        with contextlib.suppress(UnicodeDecodeError):
            body["value_text"] = value.decode("utf-8")
    return orjson.dumps(body)
