"""Parsing shared by the ``memrl`` subcommands (it lives in :mod:`memrl.parsing`, so the config
and eval layers below the CLI use it without importing the CLI)."""

from memrl.parsing import json_object

__all__ = ["json_object"]
