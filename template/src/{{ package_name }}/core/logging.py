"""structlog for every log line: JSON lines in production, a readable console in development.

The stdlib root logger gets a structlog formatter, so uvicorn, gunicorn and library logs come out
in the same shape, with the same context (request_id), as the service's own. Uvicorn's access log
is switched off: `AccessLogMiddleware` writes a richer one.
"""

import logging
import logging.config
import sys
from typing import Any

import structlog

from .settings import Settings

# Loggers that install their own handlers; they must propagate to ours instead.
_ADOPTED_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error")
# Replaced by our access log middleware.
_SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current `sys.stdout`, so a swapped stdout (pytest's capsys) is followed."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _drop_color_message(
    _: Any, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    # uvicorn adds an ANSI-coloured copy of each message as an `extra`; one copy is enough.
    event_dict.pop("color_message", None)
    return event_dict


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` document; gunicorn.conf.py reuses it as `logconfig_dict`."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    final: list[structlog.types.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
    ]
    if settings.json_logs:
        # Frames without their local variables: locals hold passwords, tokens and personal data.
        final.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    final.append(renderer)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": final,
                "foreign_pre_chain": _shared_processors(),
            },
        },
        "handlers": {
            "stdout": {"()": StdoutHandler, "formatter": "structlog"},
        },
        "root": {"handlers": ["stdout"], "level": settings.log_level},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in _ADOPTED_LOGGERS},
            **{
                name: {"handlers": [], "propagate": False, "level": "WARNING"}
                for name in _SILENCED_LOGGERS
            },
        },
    }


def configure_logging(settings: Settings) -> None:
    """Route structlog and stdlib logging through one formatter. Safe to call more than once."""
    logging.config.dictConfig(logging_config(settings))
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; context bound with `structlog.contextvars` is added to every line."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
