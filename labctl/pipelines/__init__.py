"""Pipelines labctl ships and runs for a lab's steps, the same code on every target.

- `beam_sales_features`: the Apache Beam pipeline of a `dataflow` service step (windowed sales
  features per store and product family), run on the DirectRunner by the local target and on
  Dataflow by the gcp target. Needs `pip install 'labctl[beam]'`.
- `vertex`: the Vertex AI Pipelines (KFP v2) PipelineSpec a `pipeline` step compiles to, and
  the order its steps run in locally.

Importing this package imports neither Apache Beam nor a cloud SDK.
"""

BEAM_EXTRA = "pip install 'labctl[beam]'"
BEAM_MODULE = "labctl.pipelines.beam_sales_features"
# what the Dataflow launcher (a Vertex AI CustomJob) and the Dataflow workers install
BEAM_REQUIREMENT = "apache-beam[gcp]==2.77.0"
