"""`./dev` skips `pip install` when every pin is installed (scripts/requirements_met.py): run as
./dev runs it, with this virtualenv's Python, against requirement files written here."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from django.conf import settings

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "requirements_met.py"


def met(path: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout


def test_every_pin_installed_is_met(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"# pinned\nDjango=={version('django')}\nnumpy=={version('numpy')}  # maths\n")

    assert met(path) == (0, "")


def test_another_version_installed_is_not_met(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"Django=={version('django')}\nnumpy==0.0.1\n")

    code, out = met(path)

    assert code == 1
    assert out.strip() == f"To install: numpy==0.0.1 (installed: {version('numpy')})"


def test_a_package_not_installed_is_not_met(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("surely-not-a-package-here==1.0\n")

    assert met(path) == (1, "To install: surely-not-a-package-here==1.0 (not installed)\n")


def test_included_files_count_and_markers_that_do_not_apply_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("surely-not-a-package-here==1.0\n")
    dev = tmp_path / "dev.txt"
    dev.write_text("-r base.txt\n")
    assert met(dev)[0] == 1

    other = tmp_path / "other.txt"
    other.write_text('surely-not-a-package-here==1.0; python_version < "3.0"\n')
    assert met(other) == (0, "")


def test_the_shipped_requirement_files_are_met_in_this_environment() -> None:
    """What ./dev checks before each start: the tests run in the environment ./dev built."""
    for name in ("requirements.txt", "requirements-dev.txt"):
        assert met(Path(settings.BASE_DIR) / name) == (0, ""), name
