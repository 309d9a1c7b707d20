"""The one place that reads the environment.

Everything that differs between a laptop and production comes from here, so the settings modules
stay declarative. Defaults are the embedded ones: SQLite and a file-system broker under ``var/``,
so a newcomer needs nothing installed.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("COPILOT_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# A .env file is a convenience for development; real deployments set real variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
