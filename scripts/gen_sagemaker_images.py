"""Regenerate labctl/data/sagemaker_images.json from the SageMaker Python SDK's image tables.

Usage:
    pip download --no-deps sagemaker==2.254.1 -d /tmp/sm
    python scripts/gen_sagemaker_images.py /tmp/sm/sagemaker-2.254.1-py3-none-any.whl \
        [--out labctl/data/sagemaker_images.json] [--date YYYY-MM-DD]

Reads `sagemaker/image_uri_config/*.json` inside the wheel (nothing is imported from it) and
writes, per image labctl uses, the ECR repository, the tag and the registry account of every
commercial, China and GovCloud region. ISO partitions are left out (their ECR domains differ).
Built-in algorithms: the version labctl pins; pytorch and huggingface (script mode, a later
issue): the newest training and inference versions, as the SDK lists them. Review the diff.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "labctl" / "data" / "sagemaker_images.json"
CONFIG_DIR = "sagemaker/image_uri_config/"

# labctl name -> (SDK config file, scope, version labctl pins; None: the newest the SDK lists)
BUILT_IN = {
    "xgboost": ("xgboost", "training", "1.7-1"),
    "blazingtext": ("blazingtext", None, "1"),
    "random-cut-forest": ("randomcutforest", None, "1"),
    "linear-learner": ("linear-learner", None, "1"),
    "kmeans": ("kmeans", None, "1"),
    "model-monitor": ("model-monitor", None, ""),
}
FRAMEWORKS = {
    "pytorch-training": ("pytorch", "training"),
    "pytorch-inference": ("pytorch", "inference"),
    "huggingface-training": ("huggingface", "training"),
    "huggingface-inference": ("huggingface", "inference"),
}
ISO = re.compile(r"^us-iso[a-z]*-")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _registries(entry: dict[str, Any]) -> dict[str, str]:
    return {r: a for r, a in sorted(entry["registries"].items()) if not ISO.match(r)}


def _scoped(config: dict[str, Any], scope: str | None) -> dict[str, Any]:
    """The versions block of a config file: top-level (with `scope`) or under the scope key."""
    return config if scope is None or "versions" in config else config[scope]


def built_in(config: dict[str, Any], scope: str | None, version: str) -> dict[str, Any]:
    entry = _scoped(config, scope)["versions"][version]
    return {
        "repository": entry["repository"],
        "tag": version or "latest",
        "registries": _registries(entry),
    }


def framework(config: dict[str, Any], scope: str) -> dict[str, Any]:
    """The newest version of a deep-learning container, with its Python and processor options."""
    versions = config[scope]["versions"]
    version = max(versions, key=_version_key)
    entry = versions[version]
    base: dict[str, Any] = {"version": version}
    if "registries" not in entry:  # huggingface: one entry per underlying pytorch/tensorflow
        inner = sorted(
            (k for k in entry if k.startswith("pytorch") and k != "version_aliases"),
            key=_version_key,
        )
        base["base_framework"] = inner[-1]
        entry = entry[inner[-1]]
    return {
        **base,
        "repository": entry["repository"],
        "py_versions": entry.get("py_versions", []),
        "processors": config[scope].get("processors", []),
        "container_version": entry.get("container_version", {}),
        "registries": _registries(entry),
    }


def generate(wheel: Path, date: str) -> dict[str, Any]:
    match = re.match(r"sagemaker-([^-]+)-", wheel.name)
    if not match:
        raise SystemExit(f"{wheel.name} is not a sagemaker wheel")
    with zipfile.ZipFile(wheel) as zf:

        def load(name: str) -> dict[str, Any]:
            return json.loads(zf.read(f"{CONFIG_DIR}{name}.json"))

        images = {
            name: built_in(load(file), scope, version)
            for name, (file, scope, version) in BUILT_IN.items()
        }
        images |= {name: framework(load(file), scope) for name, (file, scope) in FRAMEWORKS.items()}
    return {
        "source": {
            "package": "sagemaker",
            "version": match.group(1),
            "files": f"{CONFIG_DIR}*.json",
            "generated": date,
            "generator": "scripts/gen_sagemaker_images.py",
        },
        "images": images,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="a downloaded sagemaker 2.x wheel")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--date", default=datetime.now(UTC).date().isoformat())
    args = parser.parse_args(argv)
    table = generate(args.wheel, args.date)
    args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(table['images'])} images to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
