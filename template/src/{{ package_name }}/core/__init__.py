"""The shared kernel: settings, logging, middleware, errors, health and API versioning."""
