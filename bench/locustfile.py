"""Agents and customers for bench/load.py (locust).

Agents, already logged in, browse the inbox, open tickets and reply, and the ticket page each has
open asks every 3 s whether anything changed (the live poll, reported as "live poll": mostly a
204). Customers write on open tickets
through the API and wait until the copilot's analysis of their message is visible; that wait
is reported as the request "message -> analysis".
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time

from locust import HttpUser, between, constant, events, task

TICKETS = [int(t) for t in os.environ["LOAD_TICKETS"].split(",")]
TOKEN = os.environ["LOAD_TOKEN"]
SESSIONS = iter(os.environ["LOAD_SESSIONS"].split(","))
# The open pages are the same agents' (their second tab on the same session).
TAB_SESSIONS = itertools.cycle(os.environ["LOAD_SESSIONS"].split(","))
STAMP = re.compile(r'data-live="(\w+)" data-live-version="([^"]*)"')


class Agent(HttpUser):
    weight = 20
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        # Each agent arrives with its own session (bench/load.py logged them in).
        self.client.cookies.set("sessionid", next(SESSIONS))
        self.inbox()  # which also hands out the CSRF cookie the replies send back

    @task(5)
    def inbox(self) -> None:
        self.client.get("/", name="inbox")

    @task(3)
    def ticket(self) -> None:
        self.client.get(f"/tickets/{random.choice(TICKETS)}/", name="ticket page")

    @task(1)
    def reply(self) -> None:
        self.client.post(
            f"/tickets/{random.choice(TICKETS)}/reply/",
            {"body": "Thanks, we are looking into it."},
            headers={"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "HX-Request": "true"},
            name="reply (htmx)",
        )


class OpenTicketPage(HttpUser):
    """The ticket page an agent has open: polls every 3 s (desk/templates/desk/ticket.html) with
    the stamps of its fragments, and keeps the ones a changed answer brings."""

    weight = 20
    wait_time = constant(3)

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", next(TAB_SESSIONS))
        self.ticket = random.choice(TICKETS)
        page = self.client.get(f"/tickets/{self.ticket}/", name="ticket page (tab)")
        self.stamps = dict(STAMP.findall(page.text))

    @task
    def live(self) -> None:
        answer = self.client.get(
            f"/tickets/{self.ticket}/live/",
            params=self.stamps,
            headers={"HX-Request": "true"},
            name="live poll",
        )
        if answer.status_code == 200:
            self.stamps.update(STAMP.findall(answer.text))


class Customer(HttpUser):
    weight = 2
    wait_time = between(1, 3)

    @task
    def write_and_wait(self) -> None:
        ticket = random.choice(TICKETS)
        headers = {"Authorization": f"Token {TOKEN}"}
        started = time.perf_counter()
        posted = self.client.post(
            f"/api/tickets/{ticket}/messages/",
            json={"body": "Hello, my order still has not arrived. Where is it?"},
            headers=headers,
            name="customer message (API)",
        )
        if posted.status_code != 201:
            return
        version = posted.json()["sequence"]
        status = "pending"
        while status == "pending" and time.perf_counter() - started < 30:
            time.sleep(0.1)
            answer = self.client.get(
                f"/api/tickets/{ticket}/analysis/{version}/",
                headers=headers,
                name="analysis poll (API)",
            )
            status = answer.json().get("status", "pending") if answer.ok else "pending"
        events.request.fire(
            request_type="WAIT",
            name="message -> analysis",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None if status != "pending" else TimeoutError("not analysed in 30 s"),
            context={},
        )
