"""`azureml_user`: the package Azure ML's ParallelRunStep gives its entry scripts."""
