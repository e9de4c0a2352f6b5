"""Structured logging that carries the request id of the RPC being served."""
import contextvars
import json
import logging
import sys
import time

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        return True


class TextFormatter(logging.Formatter):
    """key=value lines: easy to read at 3 a.m. and to grep by request id."""

    def format(self, record):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = (f"{ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
                f"logger={record.name} request_id={record.request_id} "
                f"msg={json.dumps(record.getMessage())}")
        extra = getattr(record, "fields", None)
        if extra:
            line += "".join(f" {k}={_value(v)}" for k, v in extra.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"ts": record.created, "level": record.levelname.lower(), "logger": record.name,
                 "request_id": record.request_id, "msg": record.getMessage(),
                 **(getattr(record, "fields", None) or {})}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _value(v):
    text = str(v)
    return json.dumps(text) if (" " in text or "=" in text or not text) else text


def setup(level="info", fmt="text", stream=None):
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def fields(**kw: object) -> dict[str, dict[str, object]]:
    """`log.info("msg", extra=fields(user_id=...))` adds key=value pairs to the line."""
    return {"fields": kw}
