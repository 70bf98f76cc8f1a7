"""The API keys' command line: `python -m <package>.keys create|list|revoke` (__main__.py)."""
