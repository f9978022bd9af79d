"""Runs a labctl entry point inside a Vertex AI prebuilt training container (stdlib only).

Vertex AI starts `python -m labctl.backends.gcp.launcher --entry-point=<module> --<hp>=<value>...`
(a tuning trial's values are appended as more `--<hp>=<value>`; the last one wins). This maps
Vertex's conventions onto the SageMaker training contract the entry points follow:

- channels: the job sets `SM_CHANNEL_<NAME>` to Cloud Storage FUSE paths (`/gcs/<bucket>/...`);
- hyperparameters: the `--name=value` arguments become `SM_HPS`;
- model: the script writes to a local folder, copied afterwards to `$AIP_MODEL_DIR` (its
  `/gcs/...` path); `metrics.json` and `log.txt` go next to it under `output/`;
- metrics: every `#metric` line is echoed, and the tuning objective (`LABCTL_HPT_METRIC`) is also
  reported to Vertex AI Vizier in cloudml-hypertune's file format, so no extra package is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METRIC = re.compile(r"^#metric (?P<name>[\w:.\-]+)=(?P<value>\S+)(?: step=(?P<step>\d+))?$")


def gcs_path(uri: str) -> Path:
    """gs://bucket/key -> /gcs/bucket/key (Cloud Storage FUSE in Vertex AI jobs)."""
    return Path("/gcs") / uri.removeprefix("gs://") if uri.startswith("gs://") else Path(uri)


def parse_args(argv: list[str]) -> tuple[str, dict[str, str]]:
    """(entry point module, hyperparameters) from `--key=value` arguments."""
    entry, hps = None, {}
    for arg in argv:
        key, sep, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or not sep:
            raise SystemExit(f"gcp.launcher: expected --key=value, got {arg!r}")
        if key == "entry-point":
            entry = value
        else:
            hps[key] = value
    if not entry:
        raise SystemExit("gcp.launcher: --entry-point=<module> is required")
    return entry, hps


def report(name: str, value: str, step: str | None) -> None:
    """Append one measurement to the hypertune metrics file Vertex AI reads."""
    path = Path(os.environ.get("CLOUD_ML_HP_METRIC_FILE", "/tmp/hypertune/output.metrics"))
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "timestamp": time.time(),
        "trial": os.environ.get("CLOUD_ML_TRIAL_ID", "0"),
        os.environ.get("LABCTL_HPT_TAG", name): value,
        "global_step": step or "0",
        "checkpoint_path": "",
    }
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def main(argv: list[str] | None = None) -> int:
    entry, hps = parse_args(sys.argv[1:] if argv is None else argv)
    model_uri = os.environ.get("AIP_MODEL_DIR", "")
    work = Path(tempfile.mkdtemp(prefix="labctl-job-"))
    model_dir, output = work / "model", work / "output"
    (output / "data").mkdir(parents=True)
    model_dir.mkdir()
    env = {
        **os.environ,
        "SM_HPS": json.dumps(hps),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DIR": str(output),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
        "SM_INPUT_DIR": str(work / "input"),
    }
    objective = os.environ.get("LABCTL_HPT_METRIC")
    log_lines = []
    proc = subprocess.Popen(
        [sys.executable, "-m", entry],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        log_lines.append(line)
        match = METRIC.match(line.strip())
        if match and objective and match.group("name") == objective:
            report(objective, match.group("value"), match.group("step"))
    code = proc.wait()
    if model_uri:
        dest = gcs_path(model_uri)
        shutil.copytree(model_dir, dest, dirs_exist_ok=True)
        out = dest.parent / "output"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.json",):
            if (output / "data" / name).is_file():
                shutil.copy2(output / "data" / name, out / name)
        if (output / "failure").is_file():
            shutil.copy2(output / "failure", out / "failure")
        (out / "log.txt").write_text("".join(log_lines[-2000:]), encoding="utf-8")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
