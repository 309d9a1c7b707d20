"""Intent label sets: which set of intents a ticket is read with, and where each set's model is.

One organisation may need more than one set. A shop's own intents fit its e-mail and chat
("track order", "get invoice"), but public social-media requests to a brand are about outages,
flights, hacked accounts and praise: read with the shop's labels they come out "unsure" every
time. So each set has its own model, trained on the tickets that belong to it, and a ticket
belongs to:

1. its team's `Team.intent_label_set`, when the team names one (a team's own set);
2. else the set its channel maps to in COPILOT_INTENT_LABEL_SET_BY_CHANNEL (by default
   "social" for the social channel, with the shipped model of 14 Twitter support intents);
3. else "default": COPILOT_INTENT_MODEL_DIR, the organisation's single model before sets.

The choice reads a team setting and the ticket's channel, never a team's name: teams can be
split into brands or renamed and keep their intents.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from copilot.nlp.intent import MODEL_JSON
from tickets.models import Ticket

DEFAULT_LABEL_SET = "default"
# A label set's name is a directory name and a setting value: keep it a short slug.
LABEL_SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
WEIGHTS_DIR = Path(__file__).resolve().parent / "nlp" / "weights"
# Trained by `manage.py train_intent --output copilot/nlp/weights/intent` on the demo tickets;
# used until the organisation trains its own into COPILOT_INTENT_MODEL_DIR.
SHIPPED_INTENT_DIR = WEIGHTS_DIR / "intent"


def label_set_validate(name: str) -> str:
    """`name` if it can name a label set (lower-case letters, digits, _ and -), else ValueError."""
    if not LABEL_SET_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a label set name: use up to 40 lower-case letters, digits, _ or -"
        )
    return name


def label_set_for(*, channel: str, team_label_set: str) -> str:
    """The label set of a ticket on `channel` whose team has `team_label_set` ("" for none)."""
    if team_label_set:
        return team_label_set
    mapped: dict[str, str] = settings.COPILOT_INTENT_LABEL_SET_BY_CHANNEL
    return mapped.get(channel) or DEFAULT_LABEL_SET


def ticket_label_set(*, ticket: Ticket) -> str:
    """The label set `ticket` is read with (its team must be loaded or loadable)."""
    return label_set_for(channel=ticket.channel, team_label_set=ticket.team.intent_label_set)


def label_set_tickets(*, name: str) -> Q:
    """A filter on Ticket for the tickets read with label set `name` (the rule above)."""
    mapped: dict[str, str] = settings.COPILOT_INTENT_LABEL_SET_BY_CHANNEL
    own_channels = [channel for channel, target in mapped.items() if target == name]
    by_channel = Q(team__intent_label_set="", channel__in=own_channels)
    if name == DEFAULT_LABEL_SET:
        other_channels = [channel for channel, target in mapped.items() if target != name]
        by_channel |= Q(team__intent_label_set="") & ~Q(channel__in=other_channels)
    return Q(team__intent_label_set=name) | by_channel


def label_set_dirs(name: str) -> tuple[Path, Path]:
    """(where `train_intent` writes the set's model, where the shipped one is)."""
    if name == DEFAULT_LABEL_SET:
        return Path(settings.COPILOT_INTENT_MODEL_DIR), SHIPPED_INTENT_DIR
    label_set_validate(name)
    return Path(settings.COPILOT_INTENT_LABEL_SETS_DIR) / name, WEIGHTS_DIR / f"intent-{name}"


def label_set_model_dir(name: str) -> Path | None:
    """The organisation's own model of this set if trained, else the shipped one, else none."""
    for candidate in label_set_dirs(name):
        if (candidate / MODEL_JSON).is_file():
            return candidate
    return None
