"""What the tests share to drive real processes: ports, waits, launchers and capture servers.

- `ports.free_port`: a loopback port for a server a test starts;
- `waiting.wait_for` / `wait_until`: poll until something holds, or fail saying what and why;
- `processes`: this service's programs run as a platform runs them, and their logs;
- `workers` (with a queue): worker processes, their supervision and their figures;
- `capture` (with tracing or error reporting): loopback servers that keep what the service
  sends them: the traces (`otlp_receiver`) and the error reports.
"""
