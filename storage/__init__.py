"""Persistence: the only package that speaks SQL. Dataclasses in and out; times are UTC."""

from storage.db import Database
from storage.repositories import Repositories

__all__ = ["Database", "Repositories"]
