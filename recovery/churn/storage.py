"""Where the trained churn model lives and how it is read: one JSON file, written atomically,
loaded once per process and again whenever it is replaced."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from recovery.churn.model import HEURISTIC_VERSION, ChurnModel

logger = logging.getLogger(__name__)

MODEL_FILE = "churn_model.json"


def churn_model_path() -> Path:
    return Path(settings.RECOVERY_CHURN_MODEL_DIR) / MODEL_FILE


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    # A reader sees the old file or the new one, never half of one.
    os.replace(tmp, path)


def churn_model_save(*, path: Path, content: dict[str, Any], version: str) -> None:
    """Write the model's content and version to `path`, replacing the previous model whole."""
    _write_atomically(path, json.dumps({**content, "version": version}, indent=1))


_lock = threading.Lock()
# (path, mtime, size, inode) of the file read, and the model it held.
_held: tuple[tuple[str, int, int, int], ChurnModel] | None = None


def churn_model_load() -> ChurnModel | None:
    """The saved model, read once per process and again whenever the file is replaced.

    One stat() per call. A replaced file gets a new inode (os.replace), so a retrain within the
    same mtime tick is still noticed. A file that cannot be read is logged and the heuristic is
    used: a damaged file must not stop recommendations.
    """
    global _held
    path = churn_model_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    held = _held
    if held is not None and held[0] == key:
        return held[1]
    with _lock:
        if _held is not None and _held[0] == key:
            return _held[1]
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            version = document.pop("version")
            model = ChurnModel.from_content(document, version=version)
        except (OSError, ValueError, KeyError, TypeError):
            logger.exception("Churn model %s cannot be read; using %s", path, HEURISTIC_VERSION)
            return None
        _held = (key, model)
        return model


def churn_model_forget() -> None:
    """Drop the model this process holds (tests that swap model directories)."""
    global _held
    with _lock:
        _held = None
