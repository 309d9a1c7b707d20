"""Cleaning of text that reaches us from customers and integrations."""

import re

# C0 control characters and DEL, except tab, newline and carriage return. PostgreSQL refuses NUL
# in text, and the others only ever come from broken clients or attempts to confuse a terminal or
# a log reader; HTML is *not* touched here: it is stored as given and escaped when rendered.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_clean(value: str) -> str:
    return _CONTROL_CHARS.sub("", value)
