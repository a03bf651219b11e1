"""Environment API: the base class, tools, the registry and the contract checker."""

from memrl.env.base import MemoryEnv
from memrl.env.contract import Env, ScriptedExpert
from memrl.env.registry import EnvSpec, list_envs, make, register, spec
from memrl.env.tools import tool

__all__ = ["Env", "MemoryEnv", "ScriptedExpert", "EnvSpec", "list_envs", "make", "register", "spec", "tool"]
