"""Serving on gcp: model upload, endpoints with traffic splits, online prediction."""

from __future__ import annotations

import json
from typing import Any

from google.cloud import aiplatform_v1 as aip
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from labctl.backends.base import Context
from labctl.backends.gcp.client import DEPLOY_TIMEOUT
from labctl.backends.gcp.images import (
    PREDICTION_IMAGES,
    SERVED_AS,
    _unservable,
)
from labctl.backends.gcp.messages import (
    _instances,
    _labels,
    _plain,
    machine_spec,
    traffic_percentages,
    vertex_name,
)
from labctl.catalog import DeployStep
from labctl.errors import Unsupported
from labctl.ledger import Resource


class Serving:
    # --- models, endpoints, batch ---------------------------------------------------------------

    def deploy(self, *, step: DeployStep, ctx: Context) -> dict[str, Any]:
        """Model(s) uploaded, an endpoint, each model deployed, then the traffic split."""
        variants = [
            (v.name, v.model, v.weight, v.instance_type or step.instance_type)
            for v in step.variants
        ] or [(step.name, step.model, 1.0, step.instance_type)]
        models = {
            ref: self._model_for(ctx, step.name, ref)
            for ref in dict.fromkeys(v[1] for v in variants)
        }
        name = vertex_name(step.name, ctx.run.id)
        automl = {ref for ref in models if ctx.lab.train_of(ref).algorithm == "automl-image"}
        types = ["automl" if ref in automl else itype for _, ref, _, itype in variants]
        split = traffic_percentages([w for _, _, w, _ in variants])
        res = self._add(
            ctx,
            "endpoint",
            name,
            with_price=False,
            **self._endpoint_fields(ctx, types, step.instance_count),
            attrs={
                "step": step.name,
                "models": models,
                "content_type": "application/json",
                "variants": [
                    {"name": n, "model": m, "weight": w, "instance_type": t}
                    for n, m, w, t in variants
                ],
            },
        )
        with ctx.creating(res):
            op = self._api(
                "endpoint",
                "create_endpoint",
                step=step.name,
                request=aip.CreateEndpointRequest(
                    parent=self.parent,
                    endpoint=aip.Endpoint(
                        display_name=name,
                        labels=_labels(ctx),
                        predict_request_response_logging_config=self._request_logging(step, ctx),
                    ),
                ),
            )
            endpoint = self._result(op, f"creating endpoint {name}", step.name)
        ctx.ledger.update_resource(res.id, status="created", provider_id=endpoint.name)
        deployed: dict[str, str] = {}
        high = max(step.instance_count, step.autoscaling.max_instances if step.autoscaling else 1)
        with ctx.reporter.task(
            f"deploy {name}: {len(variants)} model(s)", total=len(variants)
        ) as t:
            for _i, (v_name, ref, _, itype) in enumerate(variants):
                dm = aip.DeployedModel(
                    model=models[ref], display_name=v_name, disable_container_logging=False
                )
                if ref in automl:
                    dm.automatic_resources = aip.AutomaticResources(
                        min_replica_count=step.instance_count, max_replica_count=high
                    )
                else:
                    dm.dedicated_resources = aip.DedicatedResources(
                        machine_spec=machine_spec(itype),
                        min_replica_count=step.instance_count,
                        max_replica_count=high,
                    )
                # every model lands with no traffic but the first; the split is set at the end
                first = next(iter(deployed.values()), None)
                traffic = (
                    {"0": 100}
                    if first is None
                    else {"0": 0, **{d: 100 if d == first else 0 for d in deployed.values()}}
                )
                op = self._api(
                    "endpoint",
                    "deploy_model",
                    step=step.name,
                    request=aip.DeployModelRequest(
                        endpoint=endpoint.name, deployed_model=dm, traffic_split=traffic
                    ),
                )
                response = self._result(
                    op, f"deploying {ref} to {name}", step.name, timeout=DEPLOY_TIMEOUT
                )
                deployed[v_name] = response.deployed_model.id
                ctx.ledger.update_resource(res.id, attrs={"deployed": dict(deployed)})
                t.advance()
        final_split = {deployed[v[0]]: pct for v, pct in zip(variants, split, strict=True)}
        if len(variants) > 1:
            self._api(
                "endpoint",
                "update_endpoint",
                step=step.name,
                request=aip.UpdateEndpointRequest(
                    endpoint=aip.Endpoint(name=endpoint.name, traffic_split=final_split),
                    update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
                ),
            )
        ctx.ledger.update_resource(res.id, status="deployed", attrs={"traffic_split": final_split})
        return {
            "endpoint": name,
            "resource": endpoint.name,
            "models": models,
            "deployed_models": deployed,
            "traffic_split": {v[0]: pct for v, pct in zip(variants, split, strict=True)},
            "content_type": "application/json",
        }

    def _request_logging(
        self, step: DeployStep, ctx: Context
    ) -> aip.PredictRequestResponseLoggingConfig | None:
        """The step's data capture as request-response logging into the lab's BigQuery dataset
        (Vertex AI creates its `request_response_logging` table there); None when the step
        captures nothing or the lab has no dataset (check() says so)."""
        dataset = ctx.infra.get("bigquery_dataset")
        if not step.data_capture_percent or not dataset:
            return None
        return aip.PredictRequestResponseLoggingConfig(
            enabled=True,
            sampling_rate=step.data_capture_percent / 100,
            bigquery_destination=aip.BigQueryDestination(
                output_uri=f"bq://{self.project}.{dataset}"
            ),
        )

    def invoke(self, resource: Resource, body: bytes, content_type: str, accept: str) -> bytes:
        """Online prediction: JSON `{"instances": [...]}` or CSV rows -> `{"predictions": ...}`."""
        request = aip.PredictRequest(endpoint=resource.provider_id)
        # (proto-plus cannot take a list of struct Values in the constructor; extend works)
        request.instances.extend(
            json_format.ParseDict(i, struct_pb2.Value()) for i in _instances(body, content_type)
        )
        response = self._api("prediction", "predict", request=request)
        payload = {
            "predictions": [_plain(p) for p in response.predictions],
            "deployed_model_id": response.deployed_model_id,
        }
        return json.dumps(payload).encode()

    def _model_for(self, ctx: Context, step_name: str, ref: str) -> str:
        """The Vertex model of train/tune step `ref`: AutoML's own, one made by an earlier
        deploy of this run, or a new upload with the prebuilt prediction container."""
        source = ctx.result(step_name, ref)
        if source.get("model"):
            return str(source["model"])
        for result in ctx.results.values():
            made = result.get("models") if isinstance(result, dict) else None
            if isinstance(made, dict) and ref in made:
                return str(made[ref])
        train = ctx.lab.train_of(ref)
        framework = SERVED_AS.get(train.entry_point or "")
        if framework is None:
            raise Unsupported(f"step '{step_name}': {_unservable(ctx.lab, ref)}")
        name = vertex_name(f"{step_name}-{ref}", ctx.run.id)
        model = aip.Model(
            display_name=name,
            artifact_uri=source["model_artifact"],
            container_spec=aip.ModelContainerSpec(
                image_uri=PREDICTION_IMAGES[framework].format(registry=self.registry)
            ),
            labels=_labels(ctx),
        )
        res = self._add(
            ctx,
            "model",
            name,
            with_price=False,
            attrs={"step": step_name, "source": ref, "framework": framework},
        )
        with ctx.creating(res):
            op = self._api(
                "model",
                "upload_model",
                step=step_name,
                request=aip.UploadModelRequest(parent=self.parent, model=model),
            )
            uploaded = self._result(op, f"uploading model {name}", step_name)
        ctx.ledger.update_resource(res.id, status="created", provider_id=uploaded.model)
        return str(uploaded.model)
