"""Structured logging that carries the request id of the RPC being served."""

import contextvars
import json
import logging
import re
import sys
import time

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        return True


class TextFormatter(logging.Formatter):
    """key=value lines: easy to read at 3 a.m. and to grep by request id.

    Every value is escaped: one that is not a plain word is written as a JSON string, so a
    caller's input (a user name with a line break and a fake timestamp, an escape sequence)
    can neither start a line of its own nor reach the terminal raw. A traceback's lines are
    indented and escaped the same way."""

    # Every RPC writes an access-log line: what repeats between lines is formatted once (the
    # timestamp's seconds, and messages without arguments: mostly the code's fixed strings,
    # so a few hundred at most are kept).
    _KEPT_MESSAGES = 512

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._second = (-1, "")
        self._messages: dict[str, str] = {}

    def format(self, record):
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        msg = None if record.args or not isinstance(record.msg, str) else record.msg
        quoted = self._messages.get(msg) if msg is not None else None
        if quoted is None:
            quoted = json.dumps(record.getMessage())
            if msg is not None and len(self._messages) < self._KEPT_MESSAGES:
                self._messages[msg] = quoted
        line = (
            f"{self._second[1]}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f"logger={_value(record.name)} request_id={_value(record.request_id)} msg={quoted}"
        )
        extra = getattr(record, "fields", None)
        if extra:
            line += "".join(f" {k}={_value(v)}" for k, v in extra.items())
        if record.exc_info:
            line += "".join(
                f"\n    {_escaped(text)}"
                for text in self.formatException(record.exc_info).splitlines()
            )
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": record.request_id,
            "msg": record.getMessage(),
            **(getattr(record, "fields", None) or {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_PLAIN = re.compile(r"[A-Za-z0-9._:/@+,()\[\]-]+")


def _value(v):
    if isinstance(v, int | float):  # digits, sign, point, exponent, inf, nan: all plain
        return str(v)
    text = str(v)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(text: str) -> str:
    """`text` with its control characters (escape sequences included) written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def setup(level="info", fmt="text", stream=None):
    # Neither formatter writes the caller's file and line, thread or process: not gathering them
    # spares every record (one per RPC) a walk up the stack and three lookups (the logging
    # HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def fields(**kw: object) -> dict[str, dict[str, object]]:
    """`log.info("msg", extra=fields(user_id=...))` adds key=value pairs to the line."""
    return {"fields": kw}
