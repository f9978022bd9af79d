"""The catalog (`labs.yaml`): pydantic models, loading, and errors that name file:line.

Design choice: the fast path parses with libyaml and validates with pydantic; only when that fails
is the file composed again (`yaml.compose`) to find the line of the failing field, so `labctl list`
pays nothing for good error messages.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labctl.errors import CatalogError, UnknownLab, did_you_mean
from labctl.paths import catalog_path
from labctl.safe_yaml import YamlLoader, load_yaml, read_text

M = TypeVar("M", bound=BaseModel)
STUDY_SESSION_HOURS = 4.0  # one milestone's study session: what estimates assume stays up
Cloud = Literal["aws", "gcp", "databricks"]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=48)]
Scalar = str | int | float | bool

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: object) -> int:
    """'1h30m', '45m', '2d', '90s' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '2h' or '30m'")
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(str(value))
    if not match or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration such as '2h', '30m' or '1h30m'")
    d, h, m, s = (int(g or 0) for g in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


Seconds = Annotated[int, BeforeValidator(parse_duration), Field(ge=0)]


class Strict(BaseModel):
    """Every catalog model refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)


# --- certifications -----------------------------------------------------------------------------


class Domain(Strict):
    id: Slug
    title: str
    weight: float | None = Field(None, ge=0, le=100, description="percent of the exam, if public")


class Certification(Strict):
    title: str
    vendor: str
    exam: str | None = None
    domains: list[Domain] = Field(min_length=1)

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, domains: list[Domain]) -> list[Domain]:
        ids = [d.id for d in domains]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"domain ids repeated: {sorted(dupes)}")
        weights = [d.weight for d in domains if d.weight is not None]
        if weights and abs(sum(weights) - 100) > 0.5 and len(weights) == len(domains):
            raise ValueError(f"domain weights add up to {sum(weights)}, not 100")
        return domains


# --- steps --------------------------------------------------------------------------------------


class Metric(Strict):
    name: str = Field(description="as the algorithm reports it, e.g. 'validation:auc'")
    goal: Literal["maximize", "minimize"] = "maximize"


class StepBase(Strict):
    name: Slug
    description: str | None = None


class DataStep(StepBase):
    """Produce the lab's dataset offline (a seeded generator) and upload it to the lab's bucket."""

    kind: Literal["data"]
    generator: str = Field(description="a labctl.datagen generator, e.g. 'telco-churn'")
    rows: int = Field(10_000, ge=100, le=10_000_000, description="rows on the local target")
    cloud_rows: int | None = Field(
        None, ge=100, le=1_000_000_000, description="rows when run on a cloud target"
    )
    seed: int = 42
    validation_fraction: float = Field(0.2, gt=0, lt=1)


class TrainStep(StepBase):
    """A training job under the SageMaker training contract (built-in algorithm or script)."""

    kind: Literal["train"]
    algorithm: str = Field(description="e.g. xgboost, random-cut-forest, blazingtext, spark-mllib")
    entry_point: str | None = Field(None, description="labctl.entrypoints module for script mode")
    data: str = Field(description="the data step whose channels feed this job")
    instance_type: str
    instance_count: int = Field(1, ge=1, le=64)
    volume_gb: int = Field(30, ge=1, le=16384)
    max_runtime: Seconds = Field(3600, description="e.g. '1h'")
    spot: bool = True
    max_wait: Seconds | None = Field(None, description="spot: wait at most this long (>= runtime)")
    expected_runtime: Seconds = Field(900, description="for estimates: typical job duration")
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict)
    metric: Metric

    @model_validator(mode="after")
    def _spot_wait(self) -> TrainStep:
        if self.max_wait is not None and self.max_wait < self.max_runtime:
            raise ValueError("max_wait must be at least max_runtime (SageMaker's rule for spot)")
        return self


class ContinuousRange(Strict):
    type: Literal["continuous"]
    min: float
    max: float
    scaling: Literal["auto", "linear", "logarithmic", "reverse-logarithmic"] = "auto"

    @model_validator(mode="after")
    def _ordered(self) -> ContinuousRange:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if self.scaling == "logarithmic" and self.min <= 0:
            raise ValueError("logarithmic scaling needs min > 0")
        return self


class IntegerRange(Strict):
    type: Literal["integer"]
    min: int
    max: int
    scaling: Literal["auto", "linear", "logarithmic"] = "auto"

    @model_validator(mode="after")
    def _ordered(self) -> IntegerRange:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class CategoricalRange(Strict):
    type: Literal["categorical"]
    values: list[Scalar] = Field(min_length=1)


ParameterRange = Annotated[
    ContinuousRange | IntegerRange | CategoricalRange, Field(discriminator="type")
]


class TuneStep(StepBase):
    """Automatic model tuning over a train step's hyperparameters."""

    kind: Literal["tune"]
    train: str = Field(description="the train step whose job is tuned")
    strategy: Literal["bayesian", "random", "grid", "hyperband"] = "bayesian"
    objective: Metric
    max_jobs: int = Field(20, ge=1, le=750)
    max_parallel_jobs: int = Field(2, ge=1, le=100)
    early_stopping: bool = False
    warm_start: bool = Field(False, description="start from this lab's previous tuning job")
    ranges: dict[str, ParameterRange] = Field(min_length=1)

    @model_validator(mode="after")
    def _grid_is_categorical(self) -> TuneStep:
        if self.strategy == "grid":
            bad = [k for k, r in self.ranges.items() if not isinstance(r, CategoricalRange)]
            if bad:
                raise ValueError(f"grid search needs categorical ranges; not: {bad}")
        return self


class Autoscaling(Strict):
    min_instances: int = Field(1, ge=0)
    max_instances: int = Field(2, ge=1)
    target_invocations_per_instance: int = Field(100, ge=1, description="per minute")


class Variant(Strict):
    """A production variant: a model and the share of traffic it gets (A/B testing)."""

    name: Slug
    model: str = Field(description="the train or tune step whose model this variant serves")
    weight: float = Field(1.0, ge=0)
    instance_type: str | None = None


class DeployStep(StepBase):
    """A real-time endpoint (one model, or variants splitting traffic)."""

    kind: Literal["deploy"]
    model: str = Field(description="the train or tune step whose (best) model is served")
    instance_type: str
    instance_count: int = Field(1, ge=1, le=64)
    variants: list[Variant] = Field(default_factory=list)
    autoscaling: Autoscaling | None = None
    data_capture_percent: int = Field(100, ge=0, le=100)
    expected_hours: float = Field(
        STUDY_SESSION_HOURS, ge=0, description="for estimates: a study session"
    )


class BatchStep(StepBase):
    """Batch inference over a data channel (SageMaker Batch Transform, Vertex batch prediction)."""

    kind: Literal["batch"]
    model: str
    data: str = Field(description="the data step whose validation channel is scored")
    instance_type: str
    instance_count: int = Field(1, ge=1, le=64)
    expected_runtime: Seconds = Field(600)


class MonitorStep(StepBase):
    """Model monitoring: a baseline from the training data, checks on the captured traffic."""

    kind: Literal["monitor"]
    endpoint: str = Field(description="the deploy step to monitor")
    checks: list[Literal["data-quality", "model-quality", "bias", "explainability"]] = Field(
        default_factory=lambda: ["data-quality"]
    )
    schedule: Literal["hourly", "daily"] = "hourly"
    instance_type: str = "ml.m5.large"


class PipelineStep(StepBase):
    """A managed pipeline or workflow (SageMaker Pipelines, Vertex Pipelines, Databricks Workflows)
    that chains the lab's other steps for retraining; created, not run, unless asked."""

    kind: Literal["pipeline"]
    steps: list[str] = Field(min_length=1)
    schedule: str | None = Field(None, description="cron expression for retraining")


class ServiceStep(StepBase):
    """A managed service the lab wires up that labctl provisions but does not run a job on
    (Kinesis, Glue, Comprehend, BigQuery ML, Feature Store...). Targets that lack it refuse."""

    kind: Literal["service"]
    service: str = Field(description="e.g. 'kinesis-firehose', 'glue-etl', 'bigquery-ml'")
    settings: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    optional: bool = Field(False, description="a target without it skips it with a warning")


Step = Annotated[
    Union[  # noqa: UP007 - a discriminated union reads better spelled out
        DataStep, TrainStep, TuneStep, DeployStep, BatchStep, MonitorStep, PipelineStep, ServiceStep
    ],
    Field(discriminator="kind"),
]
STEP_KINDS: dict[str, type[StepBase]] = {
    typing.get_args(m.model_fields["kind"].annotation)[0]: m
    for m in typing.get_args(typing.get_args(Step)[0])
}

# --- labs ---------------------------------------------------------------------------------------


class Hours(Strict):
    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
            low, high = (int(v) for v in value.split("-"))
            return {"min": low, "max": high}
        if isinstance(value, int) and not isinstance(value, bool):
            return {"min": value, "max": value}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    def __str__(self) -> str:
        return f"{self.min}-{self.max}" if self.min != self.max else str(self.min)


class Milestone(Strict):
    title: str
    hours: float = Field(ge=3, le=5, description="one 3-5 hour study session")
    steps: list[str] = Field(default_factory=list, description="the lab steps it exercises")


class Dataset(Strict):
    name: str = Field(description="the public dataset the seed names")
    offline: str = Field(description="how labctl obtains it offline (generator, never a download)")
    generator: str | None = None


class Lab(Strict):
    title: str
    summary: str
    cloud: Cloud
    certs: list[str] = Field(min_length=1)
    domains: dict[str, list[str]] = Field(description="certification id -> its domain ids covered")
    services: list[str] = Field(min_length=1)
    architecture: list[str] = Field(min_length=1, description="a few lines, data flow in order")
    dataset: Dataset
    hours: Hours
    milestones: list[Milestone] = Field(min_length=1)
    outcomes: list[str] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Lab:
        names = [s.name for s in self.steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"step names repeated: {dupes}")
        kinds = {s.name: s.kind for s in self.steps}

        def need(ref: str, allowed: tuple[str, ...], where: str) -> None:
            if kinds.get(ref) not in allowed:
                raise ValueError(
                    f"{where} refers to '{ref}', which is not a {'/'.join(allowed)} step of "
                    f"this lab{did_you_mean(ref, names)}"
                )

        for step in self.steps:
            where = f"step '{step.name}'"
            match step:
                case TrainStep():
                    need(step.data, ("data",), where)
                case TuneStep():
                    need(step.train, ("train",), where)
                case DeployStep():
                    need(step.model, ("train", "tune"), where)
                    for v in step.variants:
                        need(v.model, ("train", "tune"), f"{where} variant '{v.name}'")
                case BatchStep():
                    need(step.model, ("train", "tune"), where)
                    need(step.data, ("data",), where)
                case MonitorStep():
                    need(step.endpoint, ("deploy",), where)
                case PipelineStep():
                    for ref in step.steps:
                        need(ref, tuple(STEP_KINDS), where)
        for m in self.milestones:
            for ref in m.steps:
                need(ref, tuple(STEP_KINDS), f"milestone '{m.title}'")
        return self

    def step(self, name: str) -> StepBase:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def train_of(self, model: str) -> TrainStep:
        """The train step behind a model reference: a train step, or a tune step's train."""
        step = self.step(model)
        if isinstance(step, TuneStep):
            step = self.step(step.train)
        assert isinstance(step, TrainStep)
        return step

    def domain_ids(self) -> list[str]:
        """Qualified domain ids, 'cert/domain'."""
        return [f"{c}/{d}" for c, ds in self.domains.items() for d in ds]


class Catalog(Strict):
    version: Literal[1] = 1
    certifications: dict[Slug, Certification]
    labs: dict[Slug, Lab] = Field(min_length=1)
    team: dict[str, Any] | None = Field(None, description="budgets; validated by labctl.cost")

    def cross_check(self) -> list[tuple[tuple[Any, ...], str]]:
        """References between labs and certifications, as (location, problem) pairs."""
        problems = []
        for name, lab in self.labs.items():
            for i, cert in enumerate(lab.certs):
                if cert not in self.certifications:
                    problems.append((("labs", name, "certs", i), self._no_cert(cert)))
            for cert, domain_ids in lab.domains.items():
                if cert not in self.certifications:
                    problems.append((("labs", name, "domains", cert), self._no_cert(cert)))
                    continue
                known = [d.id for d in self.certifications[cert].domains]
                for i, d in enumerate(domain_ids):
                    if d not in known:
                        problems.append((
                            ("labs", name, "domains", cert, i),
                            f"'{cert}' has no domain '{d}'{did_you_mean(d, known)}",
                        ))  # fmt: skip
        return problems

    def _no_cert(self, cert: str) -> str:
        return f"no certification '{cert}' is defined{did_you_mean(cert, self.certifications)}"

    def lab(self, name: str) -> Lab:
        """The lab called `name`; UnknownLab (exit 2) with suggestions otherwise."""
        try:
            return self.labs[name]
        except KeyError:
            raise UnknownLab(
                f"no lab named '{name}'{did_you_mean(name, self.labs)}",
                hint="`labctl list` shows every lab",
            ) from None


# --- loading ------------------------------------------------------------------------------------


def load(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load and validate a catalog; any problem is a CatalogError naming file:line."""
    file = catalog_path(path)
    return parse(read_text(file, "catalog"), str(file))


def validate_file(path: str | os.PathLike[str] | None = None) -> Catalog:
    """What `labctl validate` checks: the catalog, then its `team:` section and the $LABCTL_TEAM
    file exactly as `up` and `cost` read them, so a later command rejects nothing it passed."""
    from labctl import cost  # budgets live there; importing it is slow, so only here

    file = catalog_path(path)
    text = read_text(file, "catalog")
    cat = parse(text, str(file))
    if cat.team is not None:
        validate_model(cost.Team, cat.team, text, str(file), prefix=("team",))
    if os.environ.get("LABCTL_TEAM"):
        cost.team(cat)
    return cat


def validate_model(model: type[M], data: Any, text: str, filename: str,
                   prefix: tuple[Any, ...] = ()) -> M:  # fmt: skip
    """`model.model_validate(data)`, problems as a CatalogError naming file:line; `prefix` is
    where `data` sits in the YAML document (e.g. `("team",)`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, text, filename, prefix) from None


def parse(text: str, filename: str = "<catalog>") -> Catalog:
    data = load_yaml(text, filename)
    if not isinstance(data, dict):
        raise CatalogError(
            f"{filename}:1: a catalog is a mapping with 'certifications' and 'labs'",
        )
    try:
        cat = Catalog.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, text, filename) from None
    problems = cat.cross_check()
    if problems:
        index = _line_index(text)
        raise CatalogError(
            "\n".join(f"{filename}:{index.get(loc, 1)}: {'.'.join(map(str, loc))}: {msg}"
                      for loc, msg in problems),
            hint="`labctl certs` lists the certifications and their domain ids",
        )  # fmt: skip
    return cat


def _explain(
    exc: ValidationError, text: str, filename: str, prefix: tuple[Any, ...] = ()
) -> CatalogError:
    """Turn pydantic's errors into one paragraph per problem, each with file:line and a path."""
    lines_of = _line_index(text)
    errors = [{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False)]
    typos = {  # a misspelled key also reports its right spelling missing: say it once
        (*e["loc"][:-1], m)
        for e in errors
        if e["type"] == "extra_forbidden"
        for m in difflib.get_close_matches(str(e["loc"][-1]), _fields_at(e["loc"][:-1]), 1, 0.6)
    }
    errors = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in typos)]
    first = ("extra_forbidden", "union_tag_invalid")  # the likeliest cause of the others
    errors.sort(key=lambda e: e["type"] not in first)
    paragraphs = []
    for err in errors[:10]:
        loc = tuple(err["loc"])
        line, path = _locate(lines_of, loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'" + did_you_mean(str(loc[-1]), _fields_at(loc[:-1]))
        elif err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "?")
            msg = f"unknown step kind '{tag}'{did_you_mean(str(tag), STEP_KINDS)}; kinds are: " + (
                ", ".join(STEP_KINDS)
            )
        elif err["type"] == "missing":
            msg = f"missing required key '{loc[-1]}'"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        paragraphs.append(f"{filename}:{line}: {'.'.join(map(str, path)) or '(top)'}: {msg}")
    more = len(errors) - len(paragraphs)
    if more > 0:
        paragraphs.append(f"... and {more} more")
    return CatalogError("\n".join(paragraphs), hint="`labctl validate FILE` checks a catalog")


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path in the YAML document to its 1-based line."""
    index: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=YamlLoader)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                index[child] = key.start_mark.line + 1
                walk(value, child)
                index[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _locate(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> tuple[int, list[Any]]:
    """The line of the deepest part of a pydantic loc found in the document, and the loc as the
    user wrote it: pydantic's union tags (not keys in the YAML) dropped, a missing last key kept."""
    path: tuple[Any, ...] = ()
    found_last = False
    for i, part in enumerate(loc):
        if (*path, part) in index:
            path = (*path, part)
            found_last = i == len(loc) - 1
    shown = list(path) if found_last or not loc else [*path, loc[-1]]
    return index.get(path, 1), shown


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at `loc` accepts (for 'did you mean')."""
    node: Any = Catalog
    for part in loc:
        node = _descend(node, part)
        if node is None:
            return []
    model = _as_model(node)
    return list(model.model_fields) if model else []


def _descend(node: Any, part: Any) -> Any:
    model = _as_model(node)
    if model is not None:
        if isinstance(part, str) and part in model.model_fields:
            return model.model_fields[part].annotation
        return None
    origin = typing.get_origin(node)
    args = typing.get_args(node)
    if origin is Annotated:
        return _descend(args[0], part)
    if origin in (list, dict):
        return args[-1]
    if origin in (Union, types.UnionType):
        members = [m for m in map(_as_model, args) if m is not None]
        for m in members:
            for tag_field in ("kind", "type"):
                field = m.model_fields.get(tag_field)
                if field is not None and typing.get_args(field.annotation) == (part,):
                    return m
        others = [a for a in args if a is not type(None)]
        return _descend(others[0], part) if len(others) == 1 else None
    return None


def _as_model(node: Any) -> type[BaseModel] | None:
    if typing.get_origin(node) is Annotated:
        node = typing.get_args(node)[0]
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None
