"""The `publications` example feature: work done in the background, after the commit.

`POST /items/{id}/publication` records a pending publication of the item's version and, once
the request's transaction has committed, enqueues the `publish_item` job (tasks.py); the worker
snapshots the item. The job is idempotent, keyed by (item id, version), so a second delivery
changes nothing. Copy its shape for your own jobs, then delete it (and its migration).
"""
