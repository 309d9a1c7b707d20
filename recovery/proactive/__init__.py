"""Predictive support: who is likely to write again about an issue we thought settled, which
topics are rising, and the queue from which agents reach out first.

One concern per module:

- `models`: the rows (model runs, queue entries, their decisions, emerging issues);
- `features`: each solve's features as of the solve, and its label, read from the database;
- `model`: the logistic regression, its calibration and the plain-language reasons (no Django);
- `backtest`: the time-split evaluation against the "contacted twice in 30 days" baseline;
- `service`: training and scoring with whichever model is in use;
- `emerging`: intents whose share of new tickets rises above their rolling baseline, and
  clusters of new requests no intent covers;
- `queue`: building the queue (consent honoured), the agents' decisions and their outcomes.
"""
