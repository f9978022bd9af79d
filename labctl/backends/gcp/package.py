"""The source package Vertex AI training jobs install: labctl's entry points and the launcher."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from labctl.backends.gcp.images import PACKAGE_REQUIRES

LAUNCHER_MODULE = "labctl.backends.gcp.launcher"  # what Vertex AI runs: `python -m <this>`


def build_package() -> tuple[bytes, str]:
    """A pip-installable sdist of labctl's entry points and the Vertex launcher, and its hash."""
    root = Path(__file__).resolve().parents[2]
    files = {
        f"labctl/entrypoints/{p.name}": p.read_bytes()
        for p in sorted((root / "entrypoints").glob("*.py"))
    }
    launcher = LAUNCHER_MODULE.replace(".", "/") + ".py"
    files[launcher] = (root.parent / launcher).read_bytes()
    # empty package markers: the launcher needs no SDK (this package's own __init__ is lazy too)
    files["labctl/backends/__init__.py"] = b""
    files["labctl/backends/gcp/__init__.py"] = b""
    files["labctl/__init__.py"] = b'"""labctl entry points, packaged for Vertex AI training."""\n'
    digest = hashlib.sha256(
        b"".join(k.encode() + v for k, v in sorted(files.items()))
        + json.dumps(PACKAGE_REQUIRES).encode()
    ).hexdigest()[:12]
    setup = (
        "from setuptools import setup\n"
        f"setup(name='labctl-trainer', version='0.1.0+{digest}',\n"
        "      packages=['labctl', 'labctl.entrypoints', 'labctl.backends',\n"
        "                'labctl.backends.gcp'],\n"
        f"      install_requires={PACKAGE_REQUIRES!r})\n"
    )
    files["setup.py"] = setup.encode()
    return _sdist("labctl-trainer-0.1.0", files), digest


def build_beam_package() -> tuple[bytes, str]:
    """A pip-installable sdist of labctl's Beam pipeline module (needs apache-beam[gcp]), for
    the Dataflow launcher job and the Dataflow workers; and its hash."""
    from labctl.pipelines import BEAM_MODULE, BEAM_REQUIREMENT

    root = Path(__file__).resolve().parents[2]
    module = BEAM_MODULE.replace(".", "/") + ".py"
    files = {
        module: (root.parent / module).read_bytes(),
        "labctl/__init__.py": b"",
        "labctl/pipelines/__init__.py": b"",
    }
    digest = hashlib.sha256(
        b"".join(k.encode() + v for k, v in sorted(files.items())) + BEAM_REQUIREMENT.encode()
    ).hexdigest()[:12]
    files["setup.py"] = (
        "from setuptools import setup\n"
        f"setup(name='labctl-beam-pipelines', version='0.1.0+{digest}',\n"
        "      packages=['labctl', 'labctl.pipelines'],\n"
        f"      install_requires=[{BEAM_REQUIREMENT!r}])\n"
    ).encode()
    return _sdist("labctl-beam-pipelines-0.1.0", files), digest


def _sdist(root: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
