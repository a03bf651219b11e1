"""A supervised warm start on a scripted expert's demonstrations, before RL (TRL's SFTTrainer).

A small base model that never writes a valid tool call gives GRPO groups whose rewards are all
equal: no advantage, no gradient. MemAct starts from a cold-start SFT for this reason; memrl does
the same with any environment that has an ``expert_reply()`` (what a good agent writes now). The
demonstrations are the expert's turns with exactly the messages the env showed, so SFT trains on
the same rendering the rollouts will use; the adapter it trains is the one RL then continues.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch
from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from memrl.env.contract import ScriptedExpert
from memrl.errors import UserError
from memrl.train import chunked
from memrl.train.logging import SFTLogger


def expert_demonstrations(env_factory: Callable[[], Any], tasks: list[dict[str, Any]]) -> Dataset:
    """One row per expert turn: ``prompt`` (the messages shown) and ``completion`` (its reply),
    TRL's conversational prompt-completion format."""
    env = env_factory()
    if not isinstance(env, ScriptedExpert):
        env.close()
        raise UserError(f"{type(env).__name__} has no scripted expert (expert_reply()), which the SFT warm start "
                        "plays: set sft_warm_start_episodes 0")
    rows = []
    for i, task in enumerate(tasks):
        messages, _ = env.reset(seed=i, options={"task": task})
        done = False
        while not done:
            reply = env.expert_reply()
            rows.append({"prompt": list(messages), "completion": [{"role": "assistant", "content": reply}]})
            messages, _, terminated, truncated, _ = env.step(reply)
            done = terminated or truncated
    env.close()
    return Dataset.from_list(rows)


def sft_rows_per_forward(config: Any) -> int:
    """Expert turns per SFT forward: as many rows of ``max_context_tokens`` as fit the update's
    ``update_tokens_per_forward`` (at least 1, at most half the batch), a divisor of
    ``per_device_train_batch_size`` so that the accumulated step still trains on that many turns.
    The forward's activations, not the logits (chunked), are the warm start's peak memory: 4 rows
    of 1,024 tokens took 3.3 GB on the embedded model (bench/peak_memory.py)."""
    batch = config.per_device_train_batch_size
    fit = max(1, min(batch // 2, config.update_tokens_per_forward // config.max_context_tokens))
    return max(d for d in range(1, fit + 1) if batch % d == 0)


def sft_warm_start(model: Any, tokenizer: Any, config: Any, peft_config: Any, env_factory: Callable[[], Any],
                   tasks: list[dict[str, Any]]) -> Any:
    """Train ``model`` (with a fresh LoRA when ``peft_config`` is given) on expert turns; returns the
    trained model (a PeftModel with LoRA) and saves its adapter to ``<output_dir>/sft``."""
    data = expert_demonstrations(env_factory, tasks)
    rows = sft_rows_per_forward(config)
    args = SFTConfig(
        output_dir=os.path.join(config.output_dir, "sft"), num_train_epochs=config.sft_epochs,
        learning_rate=config.sft_learning_rate, per_device_train_batch_size=rows,
        gradient_accumulation_steps=config.per_device_train_batch_size // rows, max_length=config.max_context_tokens,
        completion_only_loss=True, logging_steps=1, save_strategy="no", report_to=[], seed=config.seed, bf16=config.bf16,
        use_cpu=config.use_cpu, disable_tqdm=config.disable_tqdm, lr_scheduler_type="constant",
        gradient_checkpointing=config.gradient_checkpointing,
    )
    trainer = ChunkedSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=peft_config,
                                callbacks=[SFTLogger(config.output_dir)], logits_chunk_tokens=config.logits_chunk_tokens)
    trainer.train()
    trainer.save_model(args.output_dir)
    if trainer.accelerator.is_main_process:
        print(f"SFT warm start: {len(data)} expert turns x {config.sft_epochs} epochs; adapter saved to {args.output_dir}")
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.train()
    trainer.accelerator.free_memory()
    del trainer
    return_freed_memory()
    return model


def return_freed_memory() -> None:
    """Collect the finished SFT trainer and hand the free pages of glibc's heap back to the OS
    before RL: the 1-step main command's peak went 4.12 -> 4.03 GB for no time. Most of what the
    warm start leaves resident (~2.7 GB against 0.88 after load) is not free but fragmented
    (bench/results/peak_memory.txt). No-op where the C library is not glibc."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class ChunkedSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer with the cross-entropy computed on the completion tokens only, with the
    full-vocabulary logits of ``logits_chunk_tokens`` positions at a time (``memrl.train.chunked``).
    On CPU TRL's fused LM head scores every position, prompt included, in 4,096-token tiles of
    float32 temporaries: the warm start's largest memory (#25). Same loss (TRL's ``nll``), same
    logged metrics (loss, entropy, mean_token_accuracy, num_tokens); anything else (another loss
    type, label smoothing, MoE aux loss, sequence parallelism, a head that is not a plain Linear,
    ``logits_chunk_tokens`` 0) goes to TRL's own ``compute_loss``."""

    def __init__(self, *args: Any, logits_chunk_tokens: int = chunked.DEFAULT_CHUNK, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.logits_chunk_tokens = logits_chunk_tokens

    def _chunked_head(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        """The head to chunk over, or None where TRL's own loss must run."""
        own = (self.logits_chunk_tokens < 1 or return_outputs or self.aux_loss_enabled or self.compute_loss_func is not None
               or self.label_smoother is not None or self.args.loss_type != "nll" or "labels" not in inputs
               or "shift_labels" in inputs or "attention_mask" not in inputs)
        return None if own else chunked.plain_head(self.accelerator.unwrap_model(model))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        head = self._chunked_head(model, inputs, return_outputs)
        if head is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        with chunked.head_off(head):
            hidden = model(**forward, use_cache=False).logits[:, :-1]  # the head off: hidden states
        targets = inputs["labels"][:, 1:]
        scored = targets != -100
        with self.accelerator.autocast():  # the head in the dtype the forward would have used
            logps, entropy, top1 = chunked.token_logps(hidden, head, targets, scored, chunk=self.logits_chunk_tokens)
        count = scored.sum() if num_items_in_batch is None else num_items_in_batch
        loss = -logps.sum() / torch.as_tensor(count).clamp(min=1)
        # As TRL's: num_items_in_batch counts every rank's tokens and DDP averages the gradients.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        self._log_token_metrics(inputs, scored, entropy.detach(), top1)
        return loss

    def _log_token_metrics(self, inputs: dict[str, Any], scored: torch.Tensor, entropy: torch.Tensor, top1: torch.Tensor) -> None:
        """TRL's SFT metrics, computed as its ``compute_loss`` does."""
        mode = "train" if self.model.training else "eval"
        gather = self.accelerator.gather_for_metrics
        valid = gather(scored.sum()).sum()
        metrics = self._metrics[mode]
        metrics["entropy"].append((gather(entropy.sum()).sum() / valid).item() if valid > 0 else 0.0)
        metrics["mean_token_accuracy"].append((gather(top1.sum()).sum() / valid).item() if valid > 0 else 0.0)
        if mode == "train":
            self._total_train_tokens += gather(inputs["attention_mask"].sum()).sum().item() // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
