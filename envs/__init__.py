"""Built-in environments (imported as ``memrl.envs``); importing this registers them."""

from memrl.env.registry import register

register(
    "memrl/FactRecall-v0",
    "memrl.envs.factrecall:FactRecallEnv",
    description="Reference env: store facts, the context is cleared, answer a question from memory.",
)
