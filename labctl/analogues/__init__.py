"""Local analogues of cloud services a lab uses (BigQuery, Delta Live Tables, Kinesis, Glue...).

The local target runs a `service` step through the module that `labctl.backends.local.ANALOGUES`
names for its service: the module's `SERVICES` dict maps the service name to a function
`(step: ServiceStep, ctx: Context) -> dict` that does on this machine what the service does in
the cloud (e.g. a feature table as Parquet under the lab's local bucket) and returns the step's
result. Control-plane services (keys, networks, roles, audit, consoles: `SKIPPED_LOCALLY` in
labctl.backends.local.services) are skipped with a warning and never refuse a lab; any other
service with no analogue is skipped with a warning when the step is optional and refused
otherwise, never skipped silently.
"""
