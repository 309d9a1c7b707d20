"""Exit 0 when every requirement of the given files is installed at a version its pin allows,
1 otherwise (and name the first one that is not): `./dev` then skips `pip install`, which costs
about 10 s even when there is nothing to install (pip reads every installed package and asks
the index about pip itself).

Follows `-r other.txt` includes and environment markers. An extra (`celery[redis]`) is not
resolved: the requirement files pin what the extras bring (here `redis`) themselves.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement


def requirement_lines(path: Path, seen: set[Path] | None = None) -> list[str]:
    """The requirement lines of a file and of the files it includes with `-r`."""
    seen = set() if seen is None else seen
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            included = line.split(maxsplit=1)[1].strip()
            lines += requirement_lines(path.parent / included, seen)
        else:
            lines.append(line)
    return lines


def unmet(lines: list[str]) -> str | None:
    """The first requirement that is not installed as pinned (or cannot be read), else None."""
    for line in lines:
        if line.startswith("-"):
            return line  # an option (an index URL, a constraint file): let pip deal with it
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            return line
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            return f"{line} (not installed)"
        if not requirement.specifier.contains(installed, prereleases=True):
            return f"{line} (installed: {installed})"
    return None


def main(files: list[str]) -> int:
    lines: list[str] = []
    for name in files:
        lines += requirement_lines(Path(name))
    missing = unmet(lines)
    if missing is not None:
        print(f"To install: {missing}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
