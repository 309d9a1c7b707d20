"""The web server's access log does not keep what customers are searched by."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from django.conf import settings

from tests.worker import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_access_log_leaves_out_query_strings_and_referers(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "config.wsgi", "--config", "config/gunicorn.conf.py"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def answered() -> bool:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/health/?q=zoltan.q%40example.org",
                headers={"Referer": "http://copilot.example/inbox/?q=Zoltan+Quibbleworth"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    return response.status == 200
            except OSError:
                return False

        wait_for(answered, timeout=60, what="gunicorn to answer")
        wait_for(lambda: "GET /health/" in log.read_text(), timeout=10, what="the access log")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    line = next(x for x in log.read_text().splitlines() if "GET /health/" in x)
    assert '"GET /health/ HTTP/1.1" 200' in line
    assert "zoltan" not in log.read_text().lower()
