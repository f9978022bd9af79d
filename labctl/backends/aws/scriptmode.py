"""Script mode: a lab's entry point on SageMaker's PyTorch / Hugging Face containers, through boto3,
with the contract the SageMaker Python SDK's framework estimators use (SDK-free).

- Source: `labctl/entrypoints/<entry_point>.py` at the top of `sourcedir.tar.gz` (SageMaker runs
  it from /opt/ml/code), plus the modules of `labctl.entrypoints` it imports, transitively, at
  their package path (`labctl/entrypoints/contract.py`...) so its `from labctl.entrypoints import
  contract` resolves there; `labctl/__init__.py` is an empty stub. Packed reproducibly (sorted
  members, mtime 0): the same source gives the same bytes.
- Hyperparameters: every value JSON-encoded, as the SDK sends them (the container decodes them
  into `SM_HPS`), plus `sagemaker_program`, `sagemaker_submit_directory`, `sagemaker_region`,
  `sagemaker_container_log_level` and the distribution's flags.
- Images: the pytorch / huggingface entries of labctl/data/sagemaker_images.json (one framework
  and Python version each, see images.py), cpu or gpu from the instance type.
- Distribution: the step's `distribution` hyperparameter. `torch_distributed` runs torchrun on
  every instance; `smddp` (SageMaker distributed data parallel) only where the SDK allows it.
- Serving: the SDK's repack: the training artifact plus the packed source under `code/`, served
  by the framework's inference image with SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY.
- Metrics: the scripts print `#metric <name>=<value>` (contract.py); MetricDefinitions read them.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import re
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.backends.aws import images
from labctl.backends.aws.algorithms import ALGORITHMS, Algorithm
from labctl.backends.base import Finding
from labctl.entrypoints import SCRIPT_MODE
from labctl.errors import LabctlError, Unsupported

if TYPE_CHECKING:
    from labctl.catalog import Lab, TrainStep

PACKAGE = "labctl.entrypoints"
ENTRYPOINTS = Path(__file__).resolve().parents[2] / "entrypoints"
SOURCE_TAR = "sourcedir.tar.gz"
CODE_DIR = "code"  # the entry point's folder inside a repacked model.tar.gz
LOG_LEVEL = 20  # logging.INFO, the SDK's default container_log_level

# algorithm -> (training image, inference image) in images.FRAMEWORKS
IMAGES = {
    "pytorch": ("pytorch-training", "pytorch-inference"),
    "huggingface": ("huggingface-training", "huggingface-inference"),
}
assert set(IMAGES) == set(SCRIPT_MODE)

# SageMaker distributed data parallel (SMDDP): the SageMaker Python SDK 2.254.1's
# sagemaker/fw_utils.py, SM_DATAPARALLEL_SUPPORTED_INSTANCE_TYPES and
# SM_DATAPARALLEL_SUPPORTED_FRAMEWORK_VERSIONS["pytorch"] (P5 is not among them).
SMDDP_INSTANCE_TYPES = ("ml.p3.16xlarge", "ml.p3dn.24xlarge", "ml.p4d.24xlarge", "ml.p4de.24xlarge")
SMDDP_PYTORCH_VERSIONS = (
    "1.6.0", "1.7.1", "1.8.0", "1.8.1", "1.9.0", "1.9.1", "1.10.0", "1.10.2", "1.11.0", "1.12.0",
    "1.12.1", "1.13.1", "2.0.0", "2.0.1", "2.1.0", "2.1.2", "2.2.0",
)  # fmt: skip
# distribution -> the hyperparameter the container's launcher reads
DISTRIBUTIONS = {
    "torch_distributed": "sagemaker_torch_distributed_enabled",
    "smddp": "sagemaker_distributed_dataparallel_enabled",
}


def is_script_mode(algorithm: str) -> bool:
    return algorithm in SCRIPT_MODE


def program(step: TrainStep) -> str:
    """`sagemaker_program`: the entry point's file name."""
    if not step.entry_point:
        raise Unsupported(
            f"step '{step.name}': {step.algorithm} script mode needs an `entry_point`",
            hint=f"name a module of {PACKAGE} in labs.yaml, e.g. `entry_point: text_classifier`",
        )
    return f"{step.entry_point}.py"


def framework_version(algorithm: str) -> str:
    """The PyTorch version of the algorithm's training image (Hugging Face: its base)."""
    entry = images.FRAMEWORKS[IMAGES[algorithm][0]]
    return re.sub(r"^pytorch", "", entry.get("base_framework", entry["version"]))


def training_image(step: TrainStep, region: str) -> str:
    """The framework's training image for the step's region and instance type.

    Raises:
        Unsupported: the region or the instance's processor has no such image.
    """
    try:
        return images.framework_uri(IMAGES[step.algorithm][0], region, step.instance_type)
    except LabctlError as exc:
        raise Unsupported(f"step '{step.name}': {exc.message}", hint=exc.hint) from None


def validate(step: TrainStep, region: str) -> None:
    """Raise `Unsupported` for what SageMaker would refuse: no entry point, no image, a bad
    distribution."""
    program(step)
    training_image(step, region)
    distribution_hyperparameters(step)


def inference_image(algorithm: str, region: str, instance_type: str) -> str:
    return images.framework_uri(IMAGES[algorithm][1], region, instance_type)


# --- the source ---------------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    """The modules of labctl.entrypoints a file imports (by module name, e.g. 'contract')."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from . import x / from .x
            found.update(
                [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            )
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found.update(a.name for a in node.names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module[len(PACKAGE) + 1 :].split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :].split(".")[0])
    return {m for m in found if (ENTRYPOINTS / f"{m}.py").is_file()}


def source_files(entry_point: str) -> dict[str, Path]:
    """Archive name -> file of the entry point's source folder (what exists of it)."""
    files: dict[str, Path] = {"labctl/entrypoints/__init__.py": ENTRYPOINTS / "__init__.py"}
    top = ENTRYPOINTS / f"{entry_point}.py"
    todo = [top] if top.is_file() else []
    if todo:
        files[top.name] = top
    seen: set[str] = set()
    while todo:
        for module in sorted(_imports(todo.pop()) - seen):
            seen.add(module)
            path = ENTRYPOINTS / f"{module}.py"
            files[f"labctl/entrypoints/{module}.py"] = path
            todo.append(path)
    return files


def _members(entry_point: str) -> dict[str, bytes]:
    members: dict[str, bytes] = {"labctl/__init__.py": b""}
    members.update({name: p.read_bytes() for name, p in source_files(entry_point).items()})
    return members


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def pack(entry_point: str) -> bytes:
    """sourcedir.tar.gz of the entry point, byte-for-byte reproducible."""
    members = _members(entry_point)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            _add(tar, name, members[name])
    return gzip.compress(raw.getvalue(), mtime=0)


def repack(model_tar: Path, entry_point: str, out: Path) -> None:
    """The training artifact with the entry point's source under `code/`, as the SDK repacks a
    PyTorch / Hugging Face model: the inference containers import SAGEMAKER_PROGRAM from
    /opt/ml/model/code (a `code/` folder already in the artifact is replaced)."""
    members = _members(entry_point)
    with (
        tarfile.open(model_tar, mode="r:gz") as src,
        tarfile.open(out, mode="w:gz", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src:
            if member.name.lstrip("./").split("/")[0] == CODE_DIR:
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name in sorted(members):
            _add(dst, f"{CODE_DIR}/{name}", members[name])


# --- the job's request --------------------------------------------------------------------------


def distribution(step: TrainStep) -> str | None:
    value = step.hyperparameters.get("distribution")
    return None if value is None else str(value)


def distribution_hyperparameters(step: TrainStep) -> dict[str, Any]:
    """The SDK's hyperparameters for the step's `distribution`.

    Raises:
        Unsupported: an unknown distribution, or smddp where SageMaker does not run it.
    """
    kind = distribution(step)
    if kind is None:
        return {}
    if kind not in DISTRIBUTIONS:
        raise Unsupported(
            f"step '{step.name}': unknown distribution '{kind}'",
            hint="one of: " + ", ".join(DISTRIBUTIONS),
        )
    if kind == "smddp":
        version = framework_version(step.algorithm)
        if step.instance_type not in SMDDP_INSTANCE_TYPES or version not in SMDDP_PYTORCH_VERSIONS:
            raise Unsupported(
                f"step '{step.name}': SageMaker distributed data parallel (smddp) does not run "
                f"on {step.instance_type} with PyTorch {version} (it runs on "
                f"{', '.join(SMDDP_INSTANCE_TYPES)}, PyTorch <= {SMDDP_PYTORCH_VERSIONS[-1]})",
                hint="use `distribution: torch_distributed` (PyTorch DDP via torchrun, NCCL over "
                "EFA on P4d/P5)",
            )
    hps: dict[str, Any] = {DISTRIBUTIONS[kind]: True, "sagemaker_instance_type": step.instance_type}
    if kind == "smddp":
        hps["sagemaker_distributed_dataparallel_custom_mpi_options"] = ""
    return hps


def hyperparameters(
    step: TrainStep, source: dict[str, str], region: str, *, leave_out: set[str] | None = None
) -> dict[str, str]:
    """The job's HyperParameters as the SDK sends them: every value JSON-encoded.

    `source`: {"source_dir": S3 URI of sourcedir.tar.gz, "program": file name};
    `leave_out`: names a tuning job sets (its ranges).
    """
    hps: dict[str, Any] = {
        k: v for k, v in step.hyperparameters.items() if k not in (leave_out or set())
    }
    hps.update(distribution_hyperparameters(step))
    hps.update(
        {
            "sagemaker_program": source["program"],
            "sagemaker_submit_directory": source["source_dir"],
            "sagemaker_region": region,
            "sagemaker_container_log_level": LOG_LEVEL,
        }
    )
    return {k: json.dumps(v) for k, v in hps.items()}


def input_channels(
    data_channels: dict[str, str], models: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The data step's train and validation folders, whole on every instance (a distributed
    script shards them itself, as DistributedSampler does), then `models`: channel -> S3 URI of
    an earlier job's model.tar.gz (a distillation's teacher), downloaded as that file."""
    uris = {ch: data_channels[ch] for ch in ("train", "validation") if ch in data_channels}
    return [
        {
            "ChannelName": ch,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": uri,
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "CompressionType": "None",
        }
        for ch, uri in {**uris, **(models or {})}.items()
    ]


def metric_definitions(names: list[str]) -> list[dict[str, str]]:
    """MetricDefinitions reading the `#metric <name>=<value>` lines the entry points print."""
    return [
        {"Name": n, "Regex": f"#metric {re.escape(n)}=([-+0-9.eE]+|nan|inf)"}
        for n in dict.fromkeys(names)
    ]


def model_environment(program: str, region: str) -> dict[str, str]:
    """The inference container's Environment: the entry point whose model_fn/input_fn/
    predict_fn serve the model, in the repacked model's code/ folder, and how to log."""
    return {
        "SAGEMAKER_PROGRAM": program,
        "SAGEMAKER_SUBMIT_DIRECTORY": f"/opt/ml/model/{CODE_DIR}",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": str(LOG_LEVEL),
        "SAGEMAKER_REGION": region,
    }


def serving_io(lab: Lab, model_step: str) -> Algorithm:
    """How the model behind `model_step` is called: a built-in's table entry, or the entry
    point's CONTENT_TYPE / BATCH_CONTENT_TYPE (read from its source, not imported), JSON out."""
    train = lab.train_of(model_step)
    if not is_script_mode(train.algorithm):
        return ALGORITHMS[train.algorithm]
    consts: dict[str, str] = {}
    path = ENTRYPOINTS / f"{train.entry_point}.py"
    if train.entry_point and path.is_file():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
            ):
                consts[node.targets[0].id] = str(node.value.value)
    request = consts.get("CONTENT_TYPE", "application/json")
    batch = consts.get("BATCH_CONTENT_TYPE", request)
    return Algorithm((), request, "application/json", batch, "application/json", ())


# --- what check() finds -------------------------------------------------------------------------


def train_findings(step: TrainStep, region: str) -> list[Finding]:
    """The entry point, the framework image for the region and instance, the distribution."""
    findings: list[Finding] = []
    try:
        validate(step, region)
    except LabctlError as exc:
        reason = exc.message.removeprefix(f"step '{step.name}': ")
        return [Finding(step.name, f"{reason}; {exc.hint}")]
    name = program(step)
    if not (ENTRYPOINTS / name).is_file():
        findings.append(
            Finding(
                step.name,
                f"entry point {PACKAGE}.{step.entry_point} does not exist yet: its source "
                f"folder is packed without {name}, and the job fails when it starts",
                fatal=False,
            )
        )
    if step.instance_count > 1 and distribution(step) is None:
        findings.append(
            Finding(
                step.name,
                f"{step.instance_count} instances without a `distribution`: each runs the script "
                "on its own (set distribution: torch_distributed for DDP)",
                fatal=False,
            )
        )
    return findings


def serving_findings(
    lab: Lab, step_name: str, models: list[tuple[str, str]], region: str
) -> list[Finding]:
    """The inference image of each script-mode (model step, instance type) in the region."""
    findings: list[Finding] = []
    for model_step, instance_type in models:
        train = lab.train_of(model_step)
        if not is_script_mode(train.algorithm):
            continue
        try:
            inference_image(train.algorithm, region, instance_type)
        except LabctlError as exc:
            findings.append(Finding(step_name, f"{exc.message}; {exc.hint}"))
    return findings
