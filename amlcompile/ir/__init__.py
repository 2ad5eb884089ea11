"""Intermediate representation: frozen, validated pipeline models."""

from .models import *  # noqa: F403
from .validate import Problem, topological_order, validate  # noqa: F401
