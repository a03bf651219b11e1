"""Environment API: the base class, tools, the registry and the contract checker."""

from memrl.env.base import MemoryEnv
from memrl.env.registry import EnvSpec, list_envs, make, register, spec
from memrl.env.tools import tool

__all__ = ["MemoryEnv", "EnvSpec", "list_envs", "make", "register", "spec", "tool"]
