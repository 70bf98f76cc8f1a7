"""The `tracing` question: every value renders what it promises, and two services really trace.

Static checks render each tracing value (pairs with the other questions are the matrix's job):
the telemetry module and its dependencies only with tracing, OTLP over HTTP everywhere, the
backend in compose.yaml, the endpoint in the deploy files, Cloud Trace's Google credentials and
log fields. Two representative services then install and run their own tracing tests (the rest
of their suites runs in tests/test_queues.py): test_tracing.py asserts the span tree with an
in-memory exporter and receives the spans of the running service (and of a real worker) on an
OTLP/HTTP receiver: Jaeger with PostgreSQL and Celery on Redis, and Cloud Trace without a
database (Celery on RabbitMQ).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from provision import ServiceFactory
from rendering import Rendered, render

TRACING = ["none", "jaeger", "tempo", "cloud_trace", "datadog"]
BACKEND_SERVICES = {
    "none": set(),
    "jaeger": {"jaeger"},
    "tempo": {"tempo", "grafana"},
    "cloud_trace": set(),
    "datadog": {"datadog-agent"},
}
ALL_BACKEND_SERVICES = set().union(*BACKEND_SERVICES.values())
TELEMETRY = "src/{package}/integrations/telemetry.py"


@pytest.fixture(scope="module", params=TRACING)
def traced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    tracing = request.param
    answers = {"project_name": "Trace Check", "tracing": tracing, "queue": "celery"}
    return render(tmp_path_factory.mktemp(tracing) / "svc", answers)


def test_telemetry_module_and_dependencies_only_with_tracing(traced: Rendered) -> None:
    tracing = traced.answers["tracing"]
    telemetry = TELEMETRY.format(package=traced.package)
    pyproject = traced.read("pyproject.toml")
    if tracing == "none":
        assert telemetry not in traced.files, traced.explain(telemetry, "tracing is none")
        assert "tests/test_tracing.py" not in traced.files
        assert "opentelemetry" not in pyproject, traced.explain("pyproject.toml")
        assert "OTLP" not in traced.read(".env.example"), traced.explain(".env.example")
        return
    assert telemetry in traced.files, traced.explain(None, f"no {telemetry}")
    assert "tests/test_tracing.py" in traced.files
    assert "tests/support/otlp_receiver.py" in traced.files
    code = traced.read(telemetry)
    # OTLP over HTTP/protobuf, set explicitly; a batch processor; the provider shut down.
    for needle in (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "BatchSpanProcessor(",
        "provider.shutdown",
    ):
        assert needle in code, traced.explain(telemetry, needle)
    for dependency in (
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-instrumentation-sqlalchemy",
        "opentelemetry-instrumentation-redis",  # the broker is Redis
        "opentelemetry-instrumentation-httpx",
    ):
        assert f'"{dependency}' in pyproject, traced.explain("pyproject.toml", dependency)
    assert ("google-auth" in pyproject) == (tracing == "cloud_trace"), traced.explain(
        "pyproject.toml"
    )


def test_compose_runs_the_backend_and_points_the_service_at_it(traced: Rendered) -> None:
    tracing = str(traced.answers["tracing"])
    compose = yaml.safe_load(traced.read("compose.yaml"))
    services = set(compose["services"])
    explain = traced.explain("compose.yaml")
    assert services & ALL_BACKEND_SERVICES == BACKEND_SERVICES[tracing], explain
    endpoint = compose["x-app"]["environment"].get("TRACE_CHECK_OTLP_TRACES_ENDPOINT")
    if tracing in ("jaeger", "tempo", "datadog"):
        [host] = BACKEND_SERVICES[tracing] - {"grafana"}
        assert endpoint == f"http://{host}:4318/v1/traces", explain
    elif tracing == "cloud_trace":
        assert endpoint == "", explain  # no Google credentials in local containers
    else:
        assert endpoint is None, explain


def test_logs_carry_trace_ids_and_cloud_trace_fields(traced: Rendered) -> None:
    tracing = traced.answers["tracing"]
    logging_py = f"src/{traced.package}/kernel/logging.py"
    code = traced.read(logging_py)
    assert ('event_dict["trace_id"]' in code) == (tracing != "none"), traced.explain(logging_py)
    google = "logging.googleapis.com/trace" in code
    assert google == (tracing == "cloud_trace"), traced.explain(logging_py)


def test_jobs_carry_the_trace_context_only_with_tracing(traced: Rendered) -> None:
    jobs = f"src/{traced.package}/worker/runtime.py"
    code = traced.read(jobs)
    telemetry = f"src/{traced.package}/integrations/telemetry.py"
    if traced.answers["tracing"] != "none":
        hook = "ENQUEUE_HOOKS.append(inject_trace_context)"
        assert hook in traced.read(telemetry), traced.explain(telemetry, hook)
    has_tracing = traced.answers["tracing"] != "none"
    assert ("job_span(job.name, ctx, kwargs)" in code) == has_tracing, traced.explain(jobs)


@pytest.mark.parametrize(
    ("deploy_target", "expected"), [("cloud_run", "cloud_trace"), ("compose", "jaeger")]
)
def test_the_default_follows_the_deploy_target(
    deploy_target: str, expected: str, tmp_path: Path
) -> None:
    rendered = render(tmp_path / "svc", {"deploy_target": deploy_target})
    assert rendered.answers["tracing"] == expected


@pytest.mark.parametrize(
    ("answers", "path", "needle"),
    [
        (
            {"tracing": "tempo"},
            "deploy/k8s/base/config.env",
            "ORDERS_SERVICE_OTLP_TRACES_ENDPOINT=http://tempo.observability.svc:4318/v1/traces",
        ),
        (
            {"tracing": "datadog", "k8s_packaging": "helm"},
            "deploy/helm/values.yaml",
            "ORDERS_SERVICE_OTLP_TRACES_ENDPOINT: http://datadog-agent.datadog.svc:4318/v1/traces",
        ),
        (
            {"deploy_target": "cloud_run"},
            "deploy/cloudrun/service.yaml",
            "value: https://telemetry.googleapis.com/v1/traces",
        ),
        (
            {"deploy_target": "compose", "tracing": "jaeger"},
            "deploy/compose/compose.prod.yaml",
            "${OTLP_TRACES_ENDPOINT:-http://jaeger:4318/v1/traces}",
        ),
    ],
    ids=["kustomize-tempo", "helm-datadog", "cloudrun-cloud_trace", "compose-jaeger"],
)
def test_deploy_files_set_the_otlp_endpoint(
    answers: dict[str, Any], path: str, needle: str, tmp_path: Path
) -> None:
    rendered = render(tmp_path / "svc", answers)
    assert needle in rendered.read(path), rendered.explain(path, needle)


@pytest.mark.parametrize("tracing", ["none", "cloud_trace"])
def test_cloud_run_keeps_cpu_for_the_export_after_the_response(
    tracing: str, tmp_path: Path
) -> None:
    rendered = render(tmp_path / "svc", {"deploy_target": "cloud_run", "tracing": tracing})
    service = yaml.safe_load(rendered.read("deploy/cloudrun/service.yaml"))
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    throttled = annotations["run.googleapis.com/cpu-throttling"]
    assert throttled == ("true" if tracing == "none" else "false"), rendered.explain(
        "deploy/cloudrun/service.yaml"
    )


# --- representative services run their own tracing tests ------------------------------------------

TRACING_TESTS = r"tests/test_(tracing|cloud_trace)\.py"
SUITES = {
    "jaeger-postgresql-celery-redis": {
        "project_name": "Trace Suite Jaeger",
        "tracing": "jaeger",
        "queue": "celery",
    },
    "cloud_trace-nodb-celery-rabbitmq": {
        "project_name": "Trace Suite Gcp",
        "tracing": "cloud_trace",
        "database": "none",
        "queue": "celery",
        "broker": "rabbitmq",
        "python_version": "3.12",
    },
}


def recorded_properties(junit: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - our own run wrote it
        found |= {item.get("name", ""): item.get("value", "") for item in case.iter("property")}
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SUITES))
def test_representative_services_trace_for_real(
    name: str, rendered_service: ServiceFactory, tmp_path: Path
) -> None:
    rendered = rendered_service(SUITES[name])
    junit = tmp_path / "junit.xml"
    started = time.monotonic()
    # Only the tracing tests: the rest of these services' suites runs in tests/test_queues.py
    # (the first row is its celery-redis case with the default tracing, Jaeger).
    tracing_tests = [path for path in rendered.files if re.fullmatch(TRACING_TESTS, path)]
    rendered.own_suite(about="tests/test_tracing.py", junit=junit, paths=tracing_tests)
    suite = time.monotonic() - started
    ran = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase")}  # noqa: S314
    must_run = {
        "test_probe_requests_make_no_spans",
        "test_head_on_a_get_route_is_traced_and_not_a_500",
        "test_spans_arrive_at_an_otlp_receiver_from_a_running_service",
        "test_the_last_spans_are_flushed_when_the_service_stops",
        "test_log_lines_carry_the_trace_and_span_ids",
    }
    if rendered.answers["database"] == "postgresql":
        must_run |= {
            "test_a_database_query_is_a_client_span_within_the_request",
            "test_a_job_continues_the_trace_of_the_request_that_enqueued_it",
        }
    assert must_run <= ran, rendered.explain(None, f"tracing tests missing: {must_run - ran}")
    latency = recorded_properties(junit).get("span_export_latency_seconds")
    assert latency is not None, rendered.explain(None, "no span export latency recorded")
    print(
        f"[{name}] own tracing tests {suite:.1f} s (-n 2), span export latency "
        f"{float(latency) * 1000:.0f} ms (batch delay 100 ms)"
    )
