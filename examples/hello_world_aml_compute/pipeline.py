"""The seed document's compute-target and reuse samples ("Hello World"), on amlcompile.

Finds the `aml-compute` cluster in the workspace or creates it (at compile time that only
records it: nothing is provisioned), then runs one step on it with reuse disabled and a
notebook in `hash_paths`. An AmlCompute step compiles to a KubernetesPodOperator; run it on
this machine with
`amlcompile run examples/hello_world_aml_compute/pipeline.py --local --param greeting=Hi`.
"""

from amlcompile import (
    AmlCompute,
    ComputeTarget,
    Experiment,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)

ws = Workspace.from_config()

# Choose a name for your cluster.
compute_name = "aml-compute"
vm_size = "STANDARD_NC6"
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
    if compute_target and type(compute_target) is AmlCompute:
        print('Found compute target: ' + compute_name)
else:
    print('Creating a new compute target...')
    # STANDARD_NC6 is GPU-enabled
    provisioning_config = AmlCompute.provisioning_configuration(vm_size=vm_size,
                                                                min_nodes=0,
                                                                max_nodes=4)
    # create the compute target
    compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)

    # Can poll for a minimum number of nodes and for a specific timeout.
    # If no min node count is provided it will use the scale settings for the cluster
    compute_target.wait_for_completion(
        show_output=True, min_node_count=None, timeout_in_minutes=20)

    # For a more detailed view of current cluster status, use the 'status' property
    print(compute_target.status.serialize())

# The step's code: everything in this folder except what .amlignore excludes (scratch/).
source_directory = "./scripts"

greeting = PipelineParameter(name="greeting", default_value="Hello")

step = PythonScriptStep(name="Hello World",
                        script_name="hello_world.py",
                        compute_target=compute_target,
                        source_directory=source_directory,
                        allow_reuse=False,
                        hash_paths=['hello_world.ipynb'],
                        arguments=["--greeting", greeting])

pipeline = Pipeline(ws, steps=[step])

# During a build this only registers the pipeline (its DAG id is the experiment name).
pipeline_run = Experiment(ws, "Hello_World").submit(pipeline)
