"""The `reports` example feature: work done in the background by the worker.

`POST /reports` enqueues the `render_report` job (tasks.py) and answers 202 with the job's id;
the worker writes the report to `report_dir`. The job is idempotent, keyed by the report id, so
a second delivery changes nothing. Copy its shape for your own jobs, then delete it.
"""
