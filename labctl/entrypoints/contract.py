"""The SageMaker training contract, both sides, defined once.

Script side (inside the training process): `hyperparameters()` and the typed `hp_*` getters,
`channel()`, `model_dir()`, `output_data_dir()`, `emit_metric()`, `write_metrics()`, `fail()`,
`run()`. Launcher side: `prepare_job_dir()` lays out a job directory like `/opt/ml` and returns
the `SM_*` environment; `METRIC_RE` / `parse_metric_line()` read the `#metric` lines back.

The inference helpers at the end (`parse_csv`, `parse_json_rows`, `encode_values`, ...) are
shared by the entry points' `input_fn` / `output_fn`.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

OPT_ML = Path("/opt/ml")

METRIC_RE = re.compile(
    r"^#metric (?P<name>[\w:.\-]+)=(?P<value>[-+0-9.eE]+|nan|inf)(?: step=(?P<step>\d+))?$"
)
_NAME_RE = re.compile(r"^[\w:.\-]+$")


class HyperparameterError(ValueError):
    """A hyperparameter is missing, does not parse, or is out of range."""


# --------------------------------------------------------------------------- script side


def _env_path(var: str, default: Path) -> Path:
    return Path(os.environ.get(var) or default)


def input_dir() -> Path:
    """`$SM_INPUT_DIR` (default /opt/ml/input)."""
    return _env_path("SM_INPUT_DIR", OPT_ML / "input")


def model_dir() -> Path:
    """`$SM_MODEL_DIR` (default /opt/ml/model); created if missing."""
    path = _env_path("SM_MODEL_DIR", OPT_ML / "model")
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """`$SM_OUTPUT_DIR` (default /opt/ml/output)."""
    return _env_path("SM_OUTPUT_DIR", OPT_ML / "output")


def output_data_dir() -> Path:
    """`$SM_OUTPUT_DATA_DIR` (default /opt/ml/output/data); created if missing."""
    path = _env_path("SM_OUTPUT_DATA_DIR", output_dir() / "data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def channel(name: str) -> Path:
    """The folder of input channel `name` (`$SM_CHANNEL_<NAME>`, else input/data/<name>)."""
    env = os.environ.get(f"SM_CHANNEL_{name.upper()}")
    path = Path(env) if env else input_dir() / "data" / name
    if not path.exists():
        raise FileNotFoundError(f"input channel '{name}' not found at {path}")
    return path


def channel_files(name: str) -> list[Path]:
    """The data files of a channel, sorted, hidden files (and manifests) left out."""
    root = channel(name)
    if root.is_file():
        return [root]
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise FileNotFoundError(f"input channel '{name}' at {root} has no files")
    return files


def num_cpus() -> int:
    """`$SM_NUM_CPUS`, else the machine's CPU count."""
    return int(os.environ.get("SM_NUM_CPUS") or os.cpu_count() or 1)


def hyperparameters() -> dict[str, str]:
    """All hyperparameters as strings: `$SM_HPS`, else input/config/hyperparameters.json."""
    text = os.environ.get("SM_HPS")
    if text is None:
        path = input_dir() / "config" / "hyperparameters.json"
        text = path.read_text(encoding="utf-8") if path.exists() else "{}"
    data = json.loads(text)
    if not isinstance(data, dict):
        raise HyperparameterError("hyperparameters must be a JSON object")
    return {str(k): _to_str(v) for k, v in data.items()}


def hp_str(name: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
    """A string hyperparameter; `HyperparameterError` when missing without default or off-list."""
    value = hyperparameters().get(name, default)
    if value is None:
        raise HyperparameterError(f"hyperparameter '{name}' is required")
    if choices and value not in choices:
        raise HyperparameterError(
            f"hyperparameter {name}={value!r} is not one of: {', '.join(choices)}"
        )
    return value


def _hp_number(name: str, default: Any, kind: type, low: float | None, high: float | None) -> Any:
    raw = hyperparameters().get(name)
    if raw is None:
        if default is None:
            raise HyperparameterError(f"hyperparameter '{name}' is required")
        return default
    try:
        value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
    except (TypeError, ValueError):
        raise HyperparameterError(
            f"hyperparameter {name}={raw!r} is not a valid {kind.__name__}"
        ) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise HyperparameterError(f"hyperparameter {name}={raw} is outside [{low}, {high}]")
    return value


def hp_int(
    name: str, default: int | None = None, low: float | None = None, high: float | None = None
) -> int:
    """An integer hyperparameter ("10" and "10.0" both parse), optionally range-checked."""
    return _hp_number(name, default, int, low, high)


def hp_float(
    name: str, default: float | None = None, low: float | None = None, high: float | None = None
) -> float:
    """A float hyperparameter, optionally range-checked."""
    return _hp_number(name, default, float, low, high)


def hp_bool(name: str, default: bool | None = None) -> bool:
    """A boolean hyperparameter: true/false, 1/0, yes/no (any case)."""
    raw = hyperparameters().get(name)
    if raw is None:
        if default is None:
            raise HyperparameterError(f"hyperparameter '{name}' is required")
        return default
    low = raw.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise HyperparameterError(f"hyperparameter {name}={raw!r} is not a boolean")


def format_metric(name: str, value: float, step: int | None = None) -> str:
    """The `#metric` line for a value (no newline); -inf is written as -1.797...e+308."""
    if not _NAME_RE.match(name):
        raise ValueError(f"metric name {name!r} must match [\\w:.-]+")
    number = float(value)
    if math.isnan(number):
        text = "nan"
    elif math.isinf(number):
        text = "inf" if number > 0 else repr(-sys.float_info.max)
    else:
        text = repr(number)
    line = f"#metric {name}={text}"
    return line if step is None else f"{line} step={int(step)}"


def emit_metric(name: str, value: float, step: int | None = None) -> None:
    """Print `#metric <name>=<value>[ step=<n>]` on stdout and flush (parsed live)."""
    sys.stdout.write(format_metric(name, value, step) + "\n")
    sys.stdout.flush()


def write_metrics(metrics: Mapping[str, float]) -> Path:
    """Write the final metrics to `$SM_OUTPUT_DATA_DIR/metrics.json`; return its path."""
    path = output_data_dir() / "metrics.json"
    clean = {k: (None if math.isnan(float(v)) else float(v)) for k, v in metrics.items()}
    path.write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def fail(message: str) -> NoReturn:
    """Write `output/failure` (SageMaker's FailureReason) and exit 1."""
    out = output_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "failure").write_text(message.rstrip() + "\n", encoding="utf-8")
    sys.stderr.write(f"training failed: {message}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def run(train: Callable[[], Any]) -> NoReturn:
    """Run a training function as a job: any exception becomes `fail()`; success exits 0."""
    try:
        train()
    except SystemExit:
        raise
    except HyperparameterError as exc:
        fail(f"HyperparameterError: {exc}")
    except Exception as exc:
        traceback.print_exc()
        fail(f"{type(exc).__name__}: {exc}")
    sys.stdout.flush()
    raise SystemExit(0)


# --------------------------------------------------------------------------- launcher side


def _to_str(value: Any) -> str:
    """SageMaker's stringification of a hyperparameter value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def _link_or_copy(src: Path, dest: Path) -> None:
    """Symlink `dest` -> `src` (a folder, or a file placed inside the folder `dest`)."""
    src = src.resolve()
    if not src.exists():
        raise FileNotFoundError(f"channel source {src} does not exist")
    target = dest if src.is_dir() else dest / src.name
    if src.is_file():
        dest.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(src, target_is_directory=src.is_dir())
    except OSError:
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)


def prepare_job_dir(
    job_dir: Path,
    channels: Mapping[str, Path],
    hyperparameters: Mapping[str, Any],
    instance_type: str = "local",
    instance_count: int = 1,
) -> dict[str, str]:
    """Lay out `job_dir` like /opt/ml and return the SM_* environment for the training process.

    Creates input/data/<channel> (symlinked to the sources, copied when links fail),
    input/config/hyperparameters.json (values as strings), input/config/resourceconfig.json,
    model/, output/data/. An existing job_dir is reused; stale channels and failure are replaced.
    """
    job_dir = Path(job_dir).resolve()
    inp, model, output = job_dir / "input", job_dir / "model", job_dir / "output"
    config, data = inp / "config", inp / "data"
    for path in (config, data, model, output / "data"):
        path.mkdir(parents=True, exist_ok=True)
    (output / "failure").unlink(missing_ok=True)
    hosts = [f"algo-{i}" for i in range(1, instance_count + 1)]
    hps = {str(k): _to_str(v) for k, v in hyperparameters.items()}
    (config / "hyperparameters.json").write_text(json.dumps(hps, indent=2), encoding="utf-8")
    resource = {
        "current_host": hosts[0],
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": instance_type,
                "hosts": hosts,
            }
        ],
        "network_interface_name": "eth0",
    }
    (config / "resourceconfig.json").write_text(json.dumps(resource, indent=2), encoding="utf-8")
    (config / "inputdataconfig.json").write_text(
        json.dumps({name: {"TrainingInputMode": "File"} for name in channels}, indent=2),
        encoding="utf-8",
    )

    env = {
        "SM_MODEL_DIR": str(model),
        "SM_INPUT_DIR": str(inp),
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_OUTPUT_DIR": str(output),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(hps),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_CURRENT_HOST": hosts[0],
        "SM_HOSTS": json.dumps(hosts),
        "SM_CURRENT_INSTANCE_TYPE": instance_type,
    }
    for name, src in channels.items():
        dest = data / name
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.exists():
            shutil.rmtree(dest)
        _link_or_copy(Path(src), dest)
        env[f"SM_CHANNEL_{name.upper()}"] = str(dest)
    return env


def parse_metric_line(line: str) -> tuple[str, float, int | None] | None:
    """(name, value, step) from a `#metric` stdout line, or None for any other line."""
    match = METRIC_RE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    step = match.group("step")
    return match.group("name"), float(match.group("value")), int(step) if step else None


# --------------------------------------------------------------------------- inference helpers


class UnsupportedContentType(ValueError):
    """The request's Content-Type is not one the handler reads (HTTP 415)."""

    http_status = 415


class UnsupportedAccept(ValueError):
    """The request's Accept is not one the handler writes (HTTP 406)."""

    http_status = 406


def media_type(header: str | None, default: str) -> str:
    """'text/csv; charset=utf-8' -> 'text/csv'; empty or */* -> `default`."""
    if not header:
        return default
    value = header.split(";", 1)[0].strip().lower()
    return default if value in ("", "*/*") else value


def read_channel_csv(name: str) -> np.ndarray:
    """All CSV files of a channel as one float matrix (label first, no header)."""
    import pandas as pd

    frames = [pd.read_csv(p, header=None, dtype=np.float64) for p in channel_files(name)]
    matrix = np.concatenate([f.to_numpy() for f in frames])
    if matrix.ndim != 2 or matrix.shape[1] < 2 or len(matrix) == 0:
        raise ValueError(f"channel '{name}' needs rows of a label and at least one feature")
    return matrix


def read_validation_csv(features: int) -> np.ndarray | None:
    """The validation channel like `read_channel_csv`, checked to have `features` features
    after its label; None when the job was given no validation channel."""
    try:
        matrix = read_channel_csv("validation")
    except FileNotFoundError:
        return None
    check_width(matrix[:, 1:], features)
    return matrix


def parse_csv(body: bytes | str) -> np.ndarray:
    """CSV rows (no header, features only) -> 2-D float32; empty fields are NaN (missing)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty CSV payload: send one row of features per line")
    rows = [line.split(",") for line in lines]
    try:
        return np.array(rows, dtype=np.float32)
    except ValueError:
        pass
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"CSV rows have different numbers of fields: {sorted(widths)}")
    try:
        return np.array([[f.strip() or "nan" for f in r] for r in rows], dtype=np.float32)
    except ValueError:
        raise ValueError(
            "CSV payload has non-numeric fields (send features only, no header)"
        ) from None


def parse_json_rows(body: bytes | str) -> np.ndarray:
    """`{"instances": [[...], ...]}` (or `{"features": [...]}` items), a list of lists, or one
    flat list -> 2-D float32."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"payload is not valid JSON: {exc}") from None
    if isinstance(data, dict):
        if "instances" not in data:
            raise ValueError('JSON payload must be {"instances": [[...], ...]} or a list of lists')
        data = data["instances"]
    if not isinstance(data, list) or not data:
        raise ValueError("JSON payload has no instances")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
        data = [data]
    rows = [r["features"] if isinstance(r, dict) and "features" in r else r for r in data]
    try:
        matrix = np.array(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("JSON instances must be equal-length lists of numbers") from None
    if matrix.ndim != 2:
        raise ValueError("JSON instances must be equal-length lists of numbers")
    return matrix


def parse_rows(body: bytes, content_type: str) -> np.ndarray:
    """Numeric rows from a text/csv or application/json body."""
    kind = media_type(content_type, "text/csv")
    if kind == "text/csv":
        return parse_csv(body)
    if kind == "application/json":
        return parse_json_rows(body)
    raise UnsupportedContentType(
        f"unsupported content type {content_type!r}: use text/csv or application/json"
    )


def check_width(matrix: np.ndarray, expected: int) -> None:
    """ValueError unless every row has `expected` features."""
    if matrix.shape[1] != expected:
        hint = " (send features only, no label column)" if matrix.shape[1] == expected + 1 else ""
        raise ValueError(f"expected {expected} features per row, got {matrix.shape[1]}{hint}")


def encode_values(values: np.ndarray, accept: str, default: str = "text/csv") -> tuple[bytes, str]:
    """One number per row: JSON `{"predictions": [...]}` or CSV one value per line."""
    kind = media_type(accept, default)
    flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if kind == "application/json":
        data = flat[:, 0].tolist() if flat.shape[1] == 1 else flat.tolist()
        return json.dumps({"predictions": data}).encode(), "application/json"
    if kind == "text/csv":
        text = "\n".join(",".join(repr(v) for v in row) for row in flat.tolist())
        return (text + "\n").encode(), "text/csv"
    raise UnsupportedAccept(f"unsupported accept {accept!r}: use text/csv or application/json")
