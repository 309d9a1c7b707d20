"""Logging filters shared by every process."""

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """A 4xx is the client's doing (a page of another team, a mistyped address): log one line.

    Django logs every 403 and 404 raised as an exception with its traceback (``exc_info``),
    which reads like a crash to whoever watches the terminal. 5xx keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
