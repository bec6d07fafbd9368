"""Log lines: the JSON and text formats, the request id every line carries, which client
request ids are kept, and the configuration granian applies in its own processes."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from intentcast.config import load_settings
from intentcast.logs import (
    JsonFormatter,
    RequestContext,
    TextFormatter,
    logging_config,
    new_request_id,
    using_request_id,
    valid_request_id,
)


def _logger(
    formatter: logging.Formatter, process: str = "api"
) -> tuple[logging.Logger, io.StringIO]:
    """A logger of its own writing through ``formatter`` and the context filter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContext(process))
    logger = logging.getLogger(f"test.logs.{id(out)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_a_json_line_has_time_level_logger_message_process_and_extra_fields() -> None:
    logger, out = _logger(JsonFormatter(), process="worker:matcher")
    logger.info("matched %s to %d vendors", "int_1", 3, extra={"matches": 3})
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "INFO"
    assert record["logger"] == logger.name
    assert record["message"] == "matched int_1 to 3 vendors"
    assert record["process"] == "worker:matcher"
    assert record["matches"] == 3
    assert record["time"].endswith("+00:00") and "T" in record["time"]
    assert "request_id" not in record  # logged on behalf of no request


def test_every_line_logged_under_a_request_id_carries_it() -> None:
    logger, out = _logger(JsonFormatter())
    with using_request_id("req-42"):
        logger.warning("inside")
    logger.warning("outside")
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside["request_id"] == "req-42"
    assert "request_id" not in outside


def test_a_traceback_and_newlines_stay_on_one_json_line() -> None:
    logger, out = _logger(JsonFormatter())
    try:
        raise ValueError("broken\nin two lines")
    except ValueError:
        logger.exception("it failed")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert "ValueError: broken\nin two lines" in record["exception"]


def test_values_json_cannot_encode_are_written_as_text() -> None:
    logger, out = _logger(JsonFormatter())
    logger.info("odd", extra={"where": Path("/srv/data")})
    assert json.loads(out.getvalue())["where"] == "/srv/data"


def test_text_lines_end_with_the_request_id() -> None:
    logger, out = _logger(TextFormatter())
    with using_request_id("abc"):
        logger.info("GET /v1/me 200", extra={"status": 200})
    logger.info("no request")
    line, other = out.getvalue().splitlines()
    assert line.endswith(" INFO " + logger.name + ": GET /v1/me 200 request_id=abc")
    assert other.endswith(" INFO " + logger.name + ": no request")


@pytest.mark.parametrize(
    "value",
    ["a", "0f3c9a7e-1b2d-4c5e-8f90-123456789abc", "trace=1;span=2 /x", "~" * 200],
)
def test_printable_ascii_request_ids_up_to_200_characters_are_kept(value: str) -> None:
    assert valid_request_id(value)


@pytest.mark.parametrize(
    "value",
    [None, "", "x" * 201, "tab\there", "new\nline", "nul\x00", "del\x7f", "café", "日本"],
)
def test_other_request_ids_are_replaced(value: str | None) -> None:
    assert not valid_request_id(value)


def test_generated_request_ids_are_valid_and_distinct() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(valid_request_id(i) and len(i) == 32 for i in ids)


def test_the_configuration_covers_granians_loggers_and_quiets_httpx() -> None:
    config = logging_config(load_settings({}, log_format="json"), process="api")
    assert config["handlers"]["console"]["formatter"] == "json"
    assert {"_granian", "granian.access", "litestar"} <= set(config["loggers"])
    # httpx logs whole URLs at INFO, and a webhook URL may hold the vendor's token
    assert config["loggers"]["httpx"]["level"] == "WARNING"
    assert (
        logging_config(load_settings({}), process="api")["handlers"]["console"]["formatter"]
        == "text"
    )


def test_a_configured_process_writes_only_json_lines() -> None:
    """In a process of its own (configuration is global): everything it logs, including
    another library's logger and a warning from the root, is one JSON object per line."""
    script = """
import logging
from intentcast.config import load_settings
from intentcast.logs import configure_logging, using_request_id
configure_logging(load_settings({}, log_format="json"), process="cli")
logging.getLogger("some.library").info("from a library")
logging.getLogger("httpx").info("HTTP Request: POST http://x/hook?token=secret")
with using_request_id("r1"):
    logging.getLogger("_granian").warning("from granian")
logging.warning("from the root")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r["message"] for r in records] == ["from a library", "from granian", "from the root"]
    assert records[1]["request_id"] == "r1"
    assert all(r["process"] == "cli" for r in records)
    assert "secret" not in done.stderr + done.stdout
