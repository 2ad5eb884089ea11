"""Last step (a CommandStep with a string command): say which run finished, with what top_n.

A string command has no data arguments; the pipeline parameter arrives as an environment
variable through the step's `params` (AML_PARAMETER_<name>), as in Azure ML.
"""

import os

top_n = os.environ["AML_PARAMETER_top_n"]
print(f"run {os.environ.get('AZUREML_RUN_ID', '?')} finished")
print(f"top_n (pipeline parameter, from params) = {top_n}")
