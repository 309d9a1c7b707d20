from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command


def test_a_missing_branch_to_compare_is_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "previous.safetensors"

    with pytest.raises(CommandError, match=r"--compare-branch: no file .*previous\.safetensors"):
        call_command("evaluate", "--conversation", "--compare-branch", str(missing))
