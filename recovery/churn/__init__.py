"""The churn model: how likely a customer is to stop contacting us, learned from our own history.

One concern per module; callers import from the module that owns what they need:

- `dataset`: the customers' histories and the training labels, read from the database;
- `model`: the features, the logistic regression (fit, validate, predict) and the heuristic used
  before any model is trained; plain Python and numpy/scikit-learn, no Django;
- `storage`: the model's file (where it lives, writing it atomically, loading it once per
  process and again when it is replaced);
- `service`: training (data, fit, validation, the recorded run and the file together) and
  scoring customers with whichever model is in use.

There is no "churned" column anywhere (the shop does not tell us who left), so the label comes
from a time split of the contact history itself:

- pick a *cutoff* in the past, at least `horizon_days` before the end of the recorded history;
- the training population is every customer *active before the cutoff*: who wrote to us at least
  once in the `active_days` (365) before it, signed up before it, and has not withdrawn consent
  to model training. Long-gone customers are left out on purpose: a customer last seen five
  years ago is not one we can lose next quarter, and including them only teaches the model that
  "silent for years" means "silent" (an easy, useless AUC);
- **churned** = the customer sent no message in the `horizon_days` after the cutoff
  (`cutoff <= created_at < cutoff + horizon`);
- every feature is computed from the history *before* the cutoff only, exactly as it is computed
  "as of now" when the model is applied, so training and scoring see the same thing.

The end of the recorded history (`now`) defaults to the newest customer message, not the wall
clock: on a live system the two are minutes apart, but on an imported snapshot the wall clock
would call everyone churned who merely fell off the end of the export.

Known leak: `Customer.order_count` and `lifetime_spend` are the shop's current totals, not a
history, so at training time they include orders placed after the cutoff. In a shop where staying
customers keep ordering this flatters the validation figures; it needs dated orders (or
snapshots of the totals) to remove.

Validation: a stratified holdout of 25% of the customers (each customer is one row, so the split
is by customer); the ROC AUC of the model is reported beside that of the simplest baseline, days
since last contact alone, on the same holdout. The saved model is then refitted on every
customer, so the figures estimate the procedure on this data, not that exact fit.

The model is a logistic regression on standardised features, stored as one JSON file (feature
names, means, scales, coefficients, intercept, how it was trained) whose version is a hash of
its content. A worker loads it once and re-reads it when the file is replaced.

With no trained model (a fresh install) `heuristic-1` is used: a transparent score, see
`model.churn_heuristic`.
"""
