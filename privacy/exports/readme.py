"""The README of a customer's data package: what it holds, what the copilot stores about them
and how it uses it, and their choices, in plain words for the person who asked."""

from __future__ import annotations

from typing import Any

from tickets.consent import ConsentPurpose

_PURPOSE_TEXT = {
    ConsentPurpose.PERSONALISATION: (
        "Personalised recommendations: when we suggest a way to make up for a problem (a refund,"
        " a discount, a callback...), the suggestion may take into account how long you have"
        " been a customer, what you have spent, your past contacts and recoveries, and an"
        " estimate of how likely you are to stop buying from us."
    ),
    ConsentPurpose.TRAINING: (
        "Model training: your tickets may be used as examples to train the models that read"
        " the intent of a message and estimate the risk of a customer leaving."
    ),
    ConsentPurpose.SIMILAR_CASES: (
        "Similar-case examples: once solved, your tickets may be shown to our agents as examples"
        " when another customer has a similar problem."
    ),
    ConsentPurpose.PROACTIVE: (
        "Proactive contact: when our records suggest a problem of yours may not be settled (you"
        " wrote about it more than once, a solved ticket came back) or many customers report the"
        " same problem, one of our agents may write to you first. An agent always decides; no"
        " message is sent automatically."
    ),
}

_README = """\
YOUR DATA IN OUR CUSTOMER SUPPORT
=================================

This package holds everything our support copilot keeps about you, as of {generated}.
It was prepared because you asked for a copy of your data (export number {export_id}).

WHAT IS IN THIS PACKAGE

  data.json            Everything below in one machine-readable file (JSON), for moving
                       your data to another service.
  tickets.csv          Your support requests ("tickets"): subject, status, how each was solved.
  messages.csv         Every message of those tickets: yours, our agents' and automatic ones.
  consents.csv         Every change of your choices (see "Your choices" below).
  analyses.csv         What the copilot read in your messages and the replies it drafted.
  recommendations.csv  Gestures the copilot suggested to our agents (refunds, discounts...),
                       what our agents decided, and what was carried out.

The CSV files open in any spreadsheet. A cell that begins with = + - or @ (also after spaces,
or in their full-width forms) is shown with a leading ' so that the spreadsheet displays your
text instead of running it as a formula;
data.json has the text exactly as written.

WHAT THE COPILOT STORES ABOUT YOU AND HOW IT USES IT

Our support agents work with a "copilot", software that helps them answer you. It does not
decide anything on its own: a person reads every suggestion and chooses what to do.

  * Your profile: your name, e-mail address, our shop's customer number, when you joined, how
    many orders you placed and what you spent.
  * Your messages and our replies, for as long as our retention rules allow.
  * For each of your messages, the copilot estimates its tone (sentiment: negative, neutral or
    positive) and what you need (intent, such as "where is my order" or "refund").
  * It looks for similar problems that the same support team has already solved, so the agent
    can see how they were solved. Only their reference numbers are in this package: they are
    other customers' requests.
  * It may draft a reply. An agent always reviews it, and can send it, change it or discard it;
    what they did is recorded.
  * It may suggest a gesture to make up for a problem. Unless you opted out of personalised
    recommendations, the suggestion takes into account your value as a customer, your history
    with us and an estimate of how likely you are to stop buying from us (your "signals",
    in data.json). Each suggestion is explained, and an agent approves or rejects it.
  * Once solved, your tickets may be used as examples for similar cases and as training data
    for the copilot's models, unless you opted out of these uses.

Nothing leaves the company: the copilot runs on our own systems, and your data is not sent to
any outside service or used to train anyone else's models.

YOUR CHOICES

{consents}

To change any of these, reply to any e-mail from our support team or contact us through the
channel you usually use, and say which use you want to allow or stop. The change applies
from the moment we record it; an opt-out from similar cases also removes your solved tickets
from the examples at once. You can also ask us to erase your data.
"""


def readme_text(data: dict[str, Any]) -> str:
    current: dict[str, bool] = data["consent"]["current"]
    consents = "\n\n".join(
        f"  [{'ALLOWED' if current.get(purpose.value, True) else 'STOPPED'}] {text}"
        for purpose, text in _PURPOSE_TEXT.items()
    )
    return _README.format(
        generated=data["generated_at"].strftime("%d %B %Y, %H:%M UTC"),
        export_id=data["export_id"],
        consents=consents,
    )
