"""The SDK v1 "client" objects: what a script does with a pipeline once it is built.

`Experiment`, run objects, `PublishedPipeline`, `PipelineEndpoint` and sign-in objects sit
above the compiler, the embedded runner and the REST client. During a build they only
register and answer like the SDK (nothing reaches Airflow); outside a build they act through
the embedded Airflow or the REST API. `dsl/` never imports this package: `dsl.session`
holds the hooks this layer installs (`session.actions`).
"""
