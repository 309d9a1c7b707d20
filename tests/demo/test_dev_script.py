"""`./dev demo` as a shell script: what it prints and what it leaves running when stopped.

The Python it runs is a stand-in (a script that succeeds at once, or sleeps as a server would), so
the test checks the script's own behaviour in a second, not the app's.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings

FAKE_PYTHON = """#!/usr/bin/env bash
# Servers (celery, runserver) sleep like a server; every other step succeeds at once.
case "$*" in
  *celery*|*runserver*) echo "$$" >> "$(dirname "$0")/../../children"; exec sleep 60 ;;
esac
exit 0
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of an exited child counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def _start_demo(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """`./dev demo` in a copy of the script beside a stand-in venv; returns it once both servers
    run, with their process ids."""
    root = Path(settings.BASE_DIR)
    (tmp_path / "config").mkdir()
    shutil.copy(root / "dev", tmp_path / "dev")
    shutil.copy(root / "config" / "demo.env", tmp_path / "config" / "demo.env")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    proc = subprocess.Popen(
        ["bash", str(tmp_path / "dev"), "demo"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    children_file = tmp_path / "children"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if children_file.exists() and len(children_file.read_text().split()) == 2:
            break
        time.sleep(0.1)
    children = [int(pid) for pid in children_file.read_text().split()]
    assert len(children) == 2 and all(_alive(pid) for pid in children)
    return proc, children


def test_dev_demo_stops_web_and_worker_on_ctrl_c_without_unbound_variable(tmp_path: Path) -> None:
    proc, children = _start_demo(tmp_path)

    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    stdout, stderr = proc.communicate(timeout=20)

    assert "Copilot is at http://127.0.0.1:" in stdout
    assert "unbound variable" not in stderr
    assert stderr == ""
    assert proc.returncode == 130
    assert not any(_alive(pid) for pid in children)


def test_dev_demo_stops_web_and_worker_when_the_script_alone_is_killed(tmp_path: Path) -> None:
    """kill of the script alone (not its group): the script itself stops both servers."""
    proc, children = _start_demo(tmp_path)

    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)

    assert "unbound variable" not in stderr
    assert not any(_alive(pid) for pid in children)
