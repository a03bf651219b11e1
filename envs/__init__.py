"""Built-in environments (imported as ``memrl.envs``); importing this registers them."""

from memrl.env.registry import register

register(
    "memrl/FactRecall-v0",
    "memrl.envs.factrecall:FactRecallEnv",
    description="Reference env: store facts, the context is cleared, answer a question from memory.",
)

register(
    "memrl/AgeMem-v0",
    "memrl.envs.agemem:AgeMemEnv",
    description="AgeMem: six memory tools over three-stage episodes (store facts, context reset + distractors, question).",
)

register(
    "memrl/MemAgent-v0",
    "memrl.envs.memagent:MemAgentEnv",
    description="MemAgent: read a long document chunk by chunk into an overwritten memory, answer in \\boxed{}.",
)

register(
    "memrl/MEM1-v0",
    "memrl.envs.mem1:MEM1Env",
    description="MEM1: multi-objective QA with search; each turn the context is rebuilt from the agent's internal state.",
)

register(
    "memrl/MemAct-v0",
    "memrl.envs.memact:MemActEnv",
    description="MemAct: multi-objective QA with search and prune_context(memory, delete_ids); a segment ends at each prune.",
)

register(
    "memrl/MemoryR1-Manager-v0",
    "memrl.envs.memory_r1:MemoryR1ManagerEnv",
    description="Memory-R1 manager: ADD/UPDATE/DELETE/NOOP per dialogue fact; a frozen answer agent scores the bank.",
)
register(
    "memrl/MemoryR1-Answer-v0",
    "memrl.envs.memory_r1:MemoryR1AnswerEnv",
    description="Memory-R1 answer agent: select the relevant of up to 60 memories, then answer (LoCoMo scoring).",
)
