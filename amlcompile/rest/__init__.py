"""Talking to a running Airflow 3 through its REST API v2 (stdlib only)."""

from .client import AirflowClient, RestError

__all__ = ["AirflowClient", "RestError"]
