"""SDK v1 compatibility: unmodified `azureml.*` code builds against amlcompile's names.

`names.py` is the one table of what amlcompile provides and what to do about the rest (the
import hook and `amlcompile migrate` both read it); `hook.py` maps `azureml.*` imports onto
amlcompile while a build imports user code.
"""
