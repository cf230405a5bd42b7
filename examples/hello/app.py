"""The demo function: greets whoever the event names and reports what Lambda told it.

Invoke it with ``{"name": "you"}``; any other event gets a greeting for "world".
"""

from __future__ import annotations

import platform
import time
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    # Printed lines go to the function's log group: see them with `lambdalite logs hello`.
    print(f"greeting {name}")
    return {
        "message": f"Hello, {name}!",
        "function": context.function_name,
        "version": context.function_version,
        "request_id": context.aws_request_id,
        "memory_mb": int(context.memory_limit_in_mb),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
