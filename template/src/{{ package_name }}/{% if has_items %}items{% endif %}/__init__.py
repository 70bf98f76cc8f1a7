"""The `items` example feature: every data contract of the template in one small resource.

CRUD with optimistic concurrency (`version`), keyset pagination with signed cursors, whitelisted
filters and sorts, relationships loaded explicitly, errors as problem+json. Copy its shape for your
own features, then delete it (and its migration, if nothing depends on it yet).
"""
