"""Did a trained policy beat the untrained base? The paired check on a ``memrl eval`` result.

    python bench/eval_gain.py runs/agemem/eval/results.json                  # policy "trained"
    python bench/eval_gain.py results.json --policy trained --env memrl/AgeMem-v0
    python bench/eval_gain.py results.json --against sft_only                # RL on top of the warm start

Pairs the policy's and the base's (or ``--against`` another row's) scores task by task (``episodes_detail`` of results.json),
recomputes the 95% paired-bootstrap interval of the difference, and prints every row's score.
Exit status 1 when the interval does not lie above zero (no gain shown), 2 on bad input.
Last line: ``paired_gain=<mean of policy - base over the paired tasks>``.
"""

from __future__ import annotations

import argparse
import sys

from memrl.errors import UserError
from memrl.eval.result import EvalResult, paired_scores
from memrl.eval.stats import paired_bootstrap_ci


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", help="a results.json written by memrl eval --out DIR")
    p.add_argument("--policy", default="trained", help="the policy to check against base (default: trained)")
    p.add_argument("--against", default="base", help="the row to compare with (default: base; e.g. sft_only)")
    p.add_argument("--env", default=None, help="the env (default: the only env in the file)")
    args = p.parse_args(argv)
    try:
        result = EvalResult.from_json(args.results)
        envs = sorted({r["env"] for r in result.rows})
        env = args.env or (envs[0] if len(envs) == 1 else None)
        if env is None:
            raise UserError(f"{args.results} holds several envs ({', '.join(envs)}); pick one with --env")
        try:
            trained, base = result.row(args.policy, env), result.row(args.against, env)
        except KeyError as e:
            raise UserError(f"{args.results}: {e.args[0]}; policies there: {', '.join(r['policy'] for r in result.rows)}") from None
    except UserError as e:
        print(f"eval_gain: error: {e}", file=sys.stderr)
        return 2
    for r in result.rows:
        if r["env"] == env:
            print(f"{r['policy']:>14}  score {r['score']:.3f} [{r['score_ci_low']:.3f}, {r['score_ci_high']:.3f}]"
                  f"  success {r['success_rate']:.2f}  episodes {r['episodes']}")
    mine, theirs = paired_scores(trained, base)
    mean, low, high = paired_bootstrap_ci(mine, theirs)
    shown = low > 0
    verdict = "gain shown" if shown else "worse: the interval lies below 0" if high < 0 else "NO gain shown: the interval reaches 0"
    print(f"{args.policy} - {args.against} over {len(mine)} paired tasks: {mean:+.3f} [{low:+.3f}, {high:+.3f}] "
          f"({verdict})")
    print(f"paired_gain={mean:.4f}")
    return 0 if shown else 1


if __name__ == "__main__":
    sys.exit(main())
