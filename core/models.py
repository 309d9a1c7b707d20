from django.db import models


class TimeStampedModel(models.Model):
    """created_at/updated_at for rows that change over time (not for append-only event rows)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """The last time a worker of each queue ran the heartbeat task (scheduled by beat): the
    health check's proof that tasks are not only queued but consumed."""

    queue = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.queue} at {self.at:%Y-%m-%d %H:%M:%S}"
