"""The demo as `./dev demo` runs it: the same settings module, the environment of config/demo.env,
served by runserver. Its pages must be the product's, never Django's debug pages."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

DEMO_ENV = Path(settings.BASE_DIR) / "config" / "demo.env"


def demo_environment() -> dict[str, str]:
    pairs = {}
    for line in DEMO_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "WHITENOISE_", "STATICFILES_", "CELERY_"))
    }
    env = {
        **inherited,
        **demo_environment(),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "COPILOT_VAR_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, "runserver exited"
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (local server)
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_demo_runs_with_debug_off() -> None:
    env = demo_environment()
    assert env["DJANGO_DEBUG"] == "false"
    assert env["DJANGO_SECURE_COOKIES"] == "false"  # http on 127.0.0.1: the login must work


def test_demo_error_pages_are_the_products_own_with_debug_off(demo_server: str) -> None:
    status, body, _ = _get(f"{demo_server}/no-such-page/")
    assert status == 404
    assert "There is nothing here, or it belongs to a team you are not in." in body
    assert "URLconf" not in body and "DEBUG = True" not in body


def test_demo_static_files_are_served_by_whitenoise_with_debug_off(demo_server: str) -> None:
    status, body, headers = _get(f"{demo_server}/static/css/app.css")
    assert status == 200
    assert body == (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    # WhiteNoise's answer, not runserver's (which would refuse with DEBUG off).
    assert headers["Access-Control-Allow-Origin"] == "*"
