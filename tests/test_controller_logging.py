"""The controller's logs: one JSON object per line, the object a line is about named in it, and none of the
per-request and per-event chatter of its libraries (which at 1,000 services was 31,000 lines a minute)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from lattice.controller.operator import QUIET_LOGGERS, configure_logging


@pytest.fixture
def controller_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("lattice", *QUIET_LOGGERS)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_lines_are_json_naming_the_object_and_the_chatter_is_gone(
        controller_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    logging.getLogger("lattice.controller").warning(
        "reconciling %s/%s failed (HTTP 500); retrying", "commerce", "payments",
        extra={"object_namespace": "commerce", "object_name": "payments"})
    logging.getLogger("httpx2").info("HTTP Request: PATCH https://127.0.0.1/apis/... 200 OK")
    logging.getLogger("kopf.objects").info("Handler 'owned-deployments' succeeded.")
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /healthz HTTP/1.1" 200')
    logging.getLogger("httpx2").warning("a connection was reset")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["message"], line["severity"]) for line in lines] == [
        ("reconciling commerce/payments failed (HTTP 500); retrying", "warn"),
        ("a connection was reset", "warn"),
    ]
    assert (lines[0]["object_namespace"], lines[0]["object_name"]) == ("commerce", "payments")
    assert "timestamp" in lines[0]
