from __future__ import annotations

import io
import json
import logging

from services.common.logging import bind_correlation_id, build_log_handler, get_correlation_id


def _capture_one_line(message: str, **extra: object) -> dict[str, object]:
    stream = io.StringIO()
    logger = logging.getLogger("deskpilot.test.logging")
    logger.propagate = False
    handler = build_log_handler(json_format=True, stream=stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info(message, extra=extra)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_logging_json_line_carries_bound_correlation_id() -> None:
    with bind_correlation_id("T1:Ev123") as correlation_id:
        assert get_correlation_id() == "T1:Ev123"
        record = _capture_one_line("answered", intent="vpn")
    assert correlation_id == "T1:Ev123"
    assert record["message"] == "answered"
    assert record["correlation_id"] == "T1:Ev123"
    assert record["intent"] == "vpn"
    assert record["level"] == "INFO"
    assert "time" in record


def test_logging_correlation_id_is_unbound_after_block() -> None:
    with bind_correlation_id() as generated:
        assert len(generated) == 32
    assert get_correlation_id() is None
    assert _capture_one_line("outside")["correlation_id"] is None
