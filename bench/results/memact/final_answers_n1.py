"""Print gold and final reply of 3 held-out tasks for an adapter (why trained MEM1/MemAct score 0 at N=1; MemAgent replies).

    python bench/results/memact/final_answers_n1.py memrl/MemAct-v0 runs/memact/final \
        '{"n_objectives": 1, "source": "synthetic", "tool_prompt": "compact"}'
    python bench/results/memact/final_answers_n1.py memrl/MEM1-v0 runs/mem1/final '{"n_objectives": 1, "source": "synthetic"}'
"""
import sys
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
from memrl.models.embedded import embedded_model_path
from memrl.eval.runner import run_policy
from memrl.env.registry import make
env_id, adapter, kw = sys.argv[1], sys.argv[2], eval(sys.argv[3])
p = embedded_model_path()
tok = AutoTokenizer.from_pretrained(p); model = AutoModelForCausalLM.from_pretrained(p)
model = PeftModel.from_pretrained(model, adapter)
tasks = make(env_id, **kw).make_tasks("test", 3, 0)
for t in run_policy(model, tok, env_id, tasks, env_kwargs=kw, max_new_tokens=96, max_context_tokens=2048):
    print("GOLD", t.task.get("answers", t.task.get("answer")), "SCORE", t.outcome.get("score"))
    print("FINAL", repr(t.final_text[-300:]))
