"""Each question's variants render what they promise, for every matrix case (test_render.py's
static checks, by question): server, queue, API versioning, licence and Python version.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml
from copier_yml import choice_questions
from rendering import Rendered

# --- variants -------------------------------------------------------------------------------


def test_server_variant(rendered: Rendered) -> None:
    gunicorn = rendered.answers["server"] == "gunicorn"
    has_conf = "gunicorn.conf.py" in rendered.files
    assert has_conf == gunicorn, rendered.explain(None, f"gunicorn.conf.py rendered: {has_conf}")
    dependencies = tomllib.loads(rendered.read("pyproject.toml"))["project"]["dependencies"]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in dependencies}
    assert ("gunicorn" in names) == gunicorn, rendered.explain("pyproject.toml")
    dockerfile = rendered.read("Dockerfile")
    assert ("gunicorn" in dockerfile) == gunicorn, rendered.explain("Dockerfile")


QUEUE_LIBRARIES = {
    ("celery", "redis"): {"celery"},
    ("celery", "rabbitmq"): {"celery"},
    ("taskiq", "redis"): {"taskiq", "taskiq-redis"},
    ("taskiq", "rabbitmq"): {"taskiq", "taskiq-aio-pika"},
    ("arq", "redis"): {"arq"},
}


def test_queue_variant(rendered: Rendered) -> None:
    """The worker, its library, its broker and its compose service exist exactly with a queue."""
    queue = rendered.answers["queue"]
    broker = "redis" if queue == "arq" else rendered.answers.get("broker", "none")
    worker = f"{rendered.package_dir}/worker/app.py"
    assert (worker in rendered.files) == (queue != "none"), rendered.explain(None, worker)
    dependencies = tomllib.loads(rendered.read("pyproject.toml"))["project"]["dependencies"]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in dependencies}
    every = set().union(*QUEUE_LIBRARIES.values())
    expected = QUEUE_LIBRARIES.get((queue, broker), set())
    assert names & every == expected, rendered.explain("pyproject.toml")
    services = yaml.safe_load(rendered.read("compose.yaml"))["services"]
    assert ("worker" in services) == (queue != "none"), rendered.explain("compose.yaml")
    if queue != "none":
        command = services["worker"]["command"]
        assert command[-1].endswith(".worker"), rendered.explain("compose.yaml")
        assert broker in services, rendered.explain("compose.yaml", f"no {broker} service")


API_VERSIONS_DOCSTRING = {
    "url_path": "URL path versioning",
    "header": "Header versioning",
    "mounted": "Mounted versioning",
}


def test_api_versioning_variant(rendered: Rendered) -> None:
    strategy = rendered.answers["api_versioning"]
    modules = [name for name in rendered.files if Path(name).name.startswith("api_versions")]
    expected = f"{rendered.package_dir}/web/api_versions.py"
    assert modules == [expected], rendered.explain(None, f"api_versions modules: {modules}")
    docstring = ast.get_docstring(ast.parse(rendered.read(expected))) or ""
    assert docstring.startswith(API_VERSIONS_DOCSTRING[strategy]), rendered.explain(expected)
    assert len(API_VERSIONS_DOCSTRING) == len(choice_questions()["api_versioning"])


LICENSE_MARKERS = {
    "MIT": ["MIT License", "Permission is hereby granted, free of charge"],
    "Apache-2.0": [
        "Apache License",
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
    ],
    "Proprietary": ["All rights reserved"],
}
PYPROJECT_LICENSE = {"MIT": "MIT", "Apache-2.0": "Apache-2.0", "Proprietary": "LicenseRef-"}


def test_license_variant(rendered: Rendered) -> None:
    license_ = rendered.answers["license"]
    text = rendered.read("LICENSE")
    missing = [marker for marker in LICENSE_MARKERS[license_] if marker not in text]
    assert not missing, rendered.explain("LICENSE", f"missing from the {license_} text: {missing}")
    others = [
        marker
        for other, markers in LICENSE_MARKERS.items()
        if other != license_
        for marker in markers[:1]
        if marker in text
    ]
    assert not others, rendered.explain("LICENSE", f"another licence's text: {others}")
    if license_ == "Apache-2.0":
        assert len(text) > 10_000, rendered.explain(None, "the Apache-2.0 text is not complete")
    else:
        assert rendered.answers["author_name"] in text, rendered.explain("LICENSE")
    declared = tomllib.loads(rendered.read("pyproject.toml"))["project"].get("license")
    assert isinstance(declared, str), rendered.explain("pyproject.toml", "no SPDX `license`")
    expected = PYPROJECT_LICENSE[license_]
    matches = declared.startswith(expected) if expected.endswith("-") else declared == expected
    assert matches, rendered.explain("pyproject.toml", f"license = {declared!r}")


def test_python_version_variant(rendered: Rendered) -> None:
    version = rendered.answers["python_version"]
    assert rendered.read(".python-version").strip() == version, rendered.explain(".python-version")
    images = re.findall(r"python:(\d+\.\d+)", rendered.read("Dockerfile"))
    assert images, rendered.explain("Dockerfile", "no python base image")
    assert set(images) == {version}, rendered.explain("Dockerfile", f"python images: {images}")
    requires = tomllib.loads(rendered.read("pyproject.toml"))["project"]["requires-python"]
    assert requires == f">={version}", rendered.explain("pyproject.toml")
