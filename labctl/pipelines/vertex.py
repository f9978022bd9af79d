"""A lab's `pipeline` step as a Vertex AI Pipelines (KFP v2) PipelineSpec, written by labctl.

`pipeline_spec` compiles tasks (one per step of the pipeline, in order, each depending on the
one before) into the KFP v2 intermediate representation (PipelineSpec, schema 2.1.0) that
`kfp.compiler` would write: `pipelineInfo`, one `components` entry and one container
`deploymentSpec.executors` entry per task, the `root` DAG with `dependentTasks`, and
`defaultPipelineRoot`. Every task runs `vertex_task.py` (this folder) in the Google Cloud
Pipeline Components image, which has the Vertex AI and BigQuery client libraries; its one
argument is the JSON request labctl built for that step (a CustomJob, SQL, a redeploy).

`run_order` is the same order for every target: the local target re-runs the steps in it.

Design choice: no `kfp` dependency. The IR is a documented JSON schema; writing it here keeps
the gcp extra small and lets the tests pin its shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.errors import UsageError

if TYPE_CHECKING:
    from labctl.catalog import Lab, PipelineStep

SCHEMA_VERSION = "2.1.0"
TASK_IMAGE = "gcr.io/ml-pipeline/google-cloud-pipeline-components:2.20.0"
JOB_UUID = "{{$.pipeline_job_uuid}}"  # replaced by Vertex AI Pipelines in each run
TASK_SCRIPT = Path(__file__).with_name("vertex_task.py")


@dataclass
class Task:
    """One container task: a step of the pipeline and the request its script sends."""

    name: str
    kind: str  # custom-job | bigquery | redeploy (see vertex_task.py)
    payload: dict[str, Any]
    depends: list[str] = field(default_factory=list)


def pipeline_name(name: str) -> str:
    """A PipelineSpec name: [a-z0-9][a-z0-9-]{0,127}."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "pipeline"
    return slug[:128]


def run_order(lab: Lab, step: PipelineStep) -> list[str]:
    """The pipeline's steps in the lab's order (the order they ran in, and depend on).

    Raises:
        UsageError: a name that is not a step of the lab, or the pipeline itself.
    """
    names = {s.name for s in lab.steps}
    unknown = [n for n in step.steps if n not in names or n == step.name]
    if unknown:
        raise UsageError(f"pipeline '{step.name}': no step {', '.join(unknown)} in the lab")
    wanted = set(step.steps)
    return [s.name for s in lab.steps if s.name in wanted]


def pipeline_spec(
    name: str, tasks: list[Task], *, pipeline_root: str, description: str = ""
) -> dict[str, Any]:
    """The KFP v2 PipelineSpec (as JSON-ready dict) running `tasks`."""
    script = TASK_SCRIPT.read_text(encoding="utf-8")
    components: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    dag: dict[str, Any] = {}
    for task in tasks:
        comp, exe = f"comp-{task.name}", f"exec-{task.name}"
        components[comp] = {"executorLabel": exe}
        executors[exe] = {
            "container": {
                "image": TASK_IMAGE,
                "command": ["python3", "-u", "-c", script],
                "args": [json.dumps({"kind": task.kind, **task.payload}, sort_keys=True)],
            }
        }
        dag[task.name] = {
            "taskInfo": {"name": task.name},
            "componentRef": {"name": comp},
            "dependentTasks": list(task.depends),
            "cachingOptions": {"enableCache": False},
        }
    info: dict[str, Any] = {"name": pipeline_name(name)}
    if description:
        info["description"] = description
    return {
        "pipelineInfo": info,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": "labctl",
        "components": components,
        "deploymentSpec": {"executors": executors},
        "root": {"dag": {"tasks": dag}},
        "defaultPipelineRoot": pipeline_root,
    }
