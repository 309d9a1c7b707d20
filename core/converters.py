"""URL converters."""


class IdConverter:
    """A database id in a URL: like `int`, but at most 18 digits.

    Django's `int` converter accepts any length, and an id beyond the database's 64-bit range
    makes the lookup fail with an overflow (a 500) instead of finding nothing (a 404).
    """

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
