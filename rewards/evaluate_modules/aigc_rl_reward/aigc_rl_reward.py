"""Every aigc-rl reward as one local ``evaluate`` metric; ``config_name`` picks the reward (no network).

    import evaluate
    from aigc_rl.rewards import EVALUATE_MODULE

    bleu = evaluate.load(EVALUATE_MODULE, config_name="bleu")
    bleu.compute(predictions=["the cat sat"], references=[["the cat sat down"]])
    # {"bleu": mean raw value, "scores": reward per prediction (as calling the reward), "raw": raw metric}
    novelty = evaluate.load(EVALUATE_MODULE, config_name="novelty", reward_kwargs={"corpus": "train.txt"})

``config_name`` is any name :func:`aigc_rl.rewards.make` accepts: a built-in reward, an entry point or a
dotted path ``pkg.module:factory``. See :class:`aigc_rl.rewards.evaluate_metric.RewardMetric`.
"""

import aigc_rl.rewards.evaluate_metric as _aigc_rl_evaluate


class AigcRlReward(_aigc_rl_evaluate.RewardMetric):
    """An aigc-rl reward chosen by ``config_name``."""
