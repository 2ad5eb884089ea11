"""Ordering without data, command steps, and a pipeline found from its last step.

A small word-frequency pipeline over an uploaded corpus. It shows `CommandStep` (a command
as a list holding data and a pipeline parameter, and commands as strings), `run_after`,
`StepSequence` with a nested list (steps that run side by side), data objects given only in
`arguments`, unnamed steps named after their script, a `DataReference` given only in
`inputs`, and resolve_closure: `count`, `top_words` and `summary` are not listed in the
Pipeline; they are found from the last step through run_after and shared data. Run it with
`amlcompile run examples/step_sequence/pipeline.py --param top_n=5 --param min_length=4`.
"""

from amlcompile import (
    CommandStep,
    DataReference,
    Datastore,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    StepSequence,
    Workspace,
)

ws = Workspace.from_config()
def_blob_store = Datastore(ws, "workspaceblobstore")
def_blob_store.upload(src_dir="./data/corpus", target_path="step_sequence/corpus", overwrite=True)

# The corpus folder on the datastore; mounted where a step passes it as an argument.
corpus = DataReference(datastore=def_blob_store, data_reference_name="corpus",
                       path_on_datastore="step_sequence/corpus")
# The same folder copied next to the step's code as ./corpus, for a step that only lists it
# in its inputs and reads it from that fixed place.
corpus_download = corpus.as_download(path_on_compute="corpus")

tokens = PipelineData("tokens", datastore=def_blob_store)
stats = PipelineData("stats", datastore=def_blob_store)
counts = PipelineData("counts", datastore=def_blob_store)
top_words = PipelineData("top_words", datastore=def_blob_store)
summary = PipelineData("summary", datastore=def_blob_store)

min_length = PipelineParameter(name="min_length", default_value=5)
top_n = PipelineParameter(name="top_n", default_value=3)
source_directory = "scripts"

# A command as a string; the DataReference is in inputs only.
validate_step = CommandStep(command="python validate_corpus.py corpus", name="validate",
                            inputs=[corpus_download], source_directory=source_directory)

# Unnamed steps are named after their script (tokenize_corpus, charstats, top_words, summary).
# Their data objects are only in arguments: a step writes the PipelineData it is given there.
tokenize_step = PythonScriptStep(script_name="tokenize_corpus.py",
                                 arguments=["--corpus", corpus, "--output", tokens],
                                 source_directory=source_directory)
charstats_step = PythonScriptStep(script_name="charstats.py",
                                  arguments=["--corpus", corpus, "--output", stats],
                                  source_directory=source_directory)

# A command as a list holding data and a pipeline parameter.
count_step = CommandStep(command=["python", "count.py", "--tokens", tokens,
                                  "--min_length", min_length, "--output", counts],
                         name="count", inputs=[tokens], outputs=[counts],
                         source_directory=source_directory)

# Steps that read a PipelineData list it in inputs too, as Azure ML requires.
top_words_step = PythonScriptStep(script_name="top_words.py",
                                  arguments=["--counts", counts, "--top_n", top_n,
                                             "--output", top_words],
                                  inputs=[counts], source_directory=source_directory)
summary_step = PythonScriptStep(script_name="summary.py",
                                arguments=["--top_words", top_words, "--stats", stats,
                                           "--output", summary],
                                inputs=[top_words, stats], source_directory=source_directory)

# The last step shares no data with the others: it runs after the summary.
announce_step = CommandStep(command="python announce.py", name="announce",
                            params={"top_n": top_n}, source_directory=source_directory)
announce_step.run_after(summary_step)

# validate first, then tokenize_corpus and charstats side by side.
sequence = StepSequence(steps=[validate_step, [tokenize_step, charstats_step]])

# Only the sequence and the last step are listed: resolve_closure finds summary (run_after),
# then top_words and count through the data they share.
pipeline = Pipeline(ws, steps=[sequence, announce_step])

# During a build these only register the pipeline; its DAG id is the experiment name.
pipeline_run = Experiment(ws, "Sequence_Exp").submit(pipeline)
pipeline_run.wait_for_completion()
