"""amlcompile's Airflow-side runtime. Copied into dags_out/ under a content-hashed name.

Imports only the standard library, Airflow and providers; never the compiler.
"""
