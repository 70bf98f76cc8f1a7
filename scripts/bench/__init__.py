"""Helpers of scripts/bench_service.py: wrk, the rendered services, baselines and the report."""
