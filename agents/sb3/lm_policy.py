"""A stable-baselines3 actor-critic policy whose actor is a causal LM (LoRA adapter or last layers trainable).

``PPO(LMActorCriticPolicy, env, policy_kwargs={"model": lm, "tokenizer": tok})`` trains a language model on
``aigc_rl/TokenGeneration-v0`` with SB3's PPO (Schulman et al. 2017): the action distribution is the LM's
next-token distribution (a ``Categorical`` over the vocabulary) at the last position of the observed window,
and the critic is a linear value head on the LM's final hidden state at that position (the design of RL4LMs,
Ramamurthy et al. 2023). The whole window is re-encoded at every call (no KV cache inside SB3), so this is for
small models and short windows; for fast LM RL use the TRL agents or :class:`aigc_rl.agents.rollout.LMRollout`.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from aigc_rl.types import CausalLM

__all__ = ["LMActorCriticPolicy", "LMPPO", "UnsupportedSpaceError", "check_token_spaces", "DEFAULT_LORA"]

#: LoRA settings used when ``lora=True`` (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models").
DEFAULT_LORA: dict[str, Any] = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}


class UnsupportedSpaceError(ValueError):
    """An env's spaces cannot be handled by an aigc-rl agent; the message names the wrapper or env to use."""


def check_token_spaces(
    observation_space: spaces.Space, action_space: spaces.Space, vocab_size: int | None = None
) -> None:
    """Check that an env offers what :class:`LMActorCriticPolicy` needs (case E1, DLR-RM/stable-baselines3#1704, E2).

    Needed: ``Dict(input_ids=Box(L,), attention_mask=Box(L,))`` observations (1-D, same length) and a
    ``Discrete(vocab_size)`` action starting at 0.

    Raises:
        UnsupportedSpaceError: naming the fix — ``aigc_rl.envs.wrappers.TokenizeObservation`` for
            ``spaces.Text`` observations, ``aigc_rl/TokenGeneration-v0`` for whole-completion actions.
    """
    if isinstance(observation_space, spaces.Text):
        raise UnsupportedSpaceError(
            "stable-baselines3 does not accept spaces.Text observations (stable-baselines3 #1704): wrap the env with "
            "aigc_rl.envs.wrappers.TokenizeObservation(env, tokenizer, max_length) to get token ids + attention mask"
        )
    ok = (
        isinstance(observation_space, spaces.Dict)
        and set(observation_space.spaces) >= {"input_ids", "attention_mask"}
        and all(isinstance(observation_space[k], spaces.Box) for k in ("input_ids", "attention_mask"))
        and len(observation_space["input_ids"].shape or ()) == 1
        and observation_space["input_ids"].shape == observation_space["attention_mask"].shape
    )
    if not ok:
        raise UnsupportedSpaceError(
            f"LMActorCriticPolicy needs Dict(input_ids=Box(L,), attention_mask=Box(L,)) observations, got "
            f"{observation_space}; use aigc_rl/TokenGeneration-v0, or aigc_rl.envs.wrappers.TokenizeObservation for "
            "text observations"
        )
    if isinstance(action_space, spaces.Text) or isinstance(action_space, spaces.MultiDiscrete):
        raise UnsupportedSpaceError(
            f"LMActorCriticPolicy emits one token per step (Discrete(vocab_size)), got action space {action_space}; "
            "for whole completions as actions use the TRL agents on aigc_rl/TextCompletion-v0, or train token by "
            "token on aigc_rl/TokenGeneration-v0"
        )
    if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
        raise UnsupportedSpaceError(
            f"LMActorCriticPolicy needs a Discrete(vocab_size) action space starting at 0, got {action_space} (case E2, DLR-RM/stable-baselines3#1718)"
        )
    if vocab_size is not None and int(action_space.n) != int(vocab_size):
        raise UnsupportedSpaceError(
            f"the env has {action_space.n} actions but the LM head has {vocab_size} outputs; build the env with the "
            "same model (gym.make('aigc_rl/TokenGeneration-v0', model=lm, tokenizer=tok))"
        )


class _NoFeatures(BaseFeaturesExtractor):
    """Placeholder extractor: the LM reads the token ids itself."""

    def __init__(self, observation_space: spaces.Space) -> None:
        super().__init__(observation_space, features_dim=1)

    def forward(self, observations: Any) -> torch.Tensor:  # pragma: no cover - never called
        raise RuntimeError("LMActorCriticPolicy does not use a features extractor")


class LMActorCriticPolicy(ActorCriticPolicy):
    """SB3 actor-critic policy: actor = causal LM, critic = value head on its last hidden state.

    Observations are the token env's ``{"input_ids", "attention_mask"}`` windows ``(batch, L)`` (any dtype;
    converted to int64), right-aligned; position ids are ``cumsum(mask) - 1`` as in ``transformers``
    ``generate``, so left padding never changes the result (case C1, huggingface/transformers#34658). The action distribution is
    ``Categorical(logits = LM logits at the last position)``; the value is ``w^T h_last + b``.

    Trainable parameters: a LoRA adapter (``lora``, via ``peft``) or, with ``lora=None``, the last
    ``trainable_layers`` decoder layers and the final norm; plus the value head. Everything else is frozen.
    The optimizer sees only trainable parameters.

    Args:
        observation_space, action_space, lr_schedule: Passed by SB3.
        model: A ``transformers`` causal LM object (pass the env's ``model`` so that the env's KL penalty sees
            the trained weights) or a name for :func:`aigc_rl.models.load_causal_lm`.
        tokenizer: Unused by the policy (kept for symmetry with the env); may be ``None``.
        lora: ``True`` for :data:`DEFAULT_LORA`, a dict of ``peft.LoraConfig`` arguments, or ``None``/``False``
            to train the last layers instead.
        trainable_layers: With ``lora=None``: how many final decoder layers to train (default 1).
        **kwargs: Other ``ActorCriticPolicy`` arguments (``optimizer_class``, ``optimizer_kwargs``); ``net_arch``
            and feature extractors are ignored.

    Raises:
        UnsupportedSpaceError: spaces that are not token windows + ``Discrete(vocab_size)`` (cases E1, E2).
    """

    action_space: spaces.Discrete  # checked by check_token_spaces before SB3 stores it
    action_dist: CategoricalDistribution
    lm: CausalLM

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        model: Any = None,
        tokenizer: Any = None,
        lora: dict[str, Any] | bool | None = True,
        trainable_layers: int = 1,
        **kwargs: Any,
    ) -> None:
        check_token_spaces(observation_space, action_space)
        self._lm_spec_holder = (model,)  # a tuple: not registered as a sub-module before nn.Module.__init__
        self._lora = DEFAULT_LORA if lora is True else (dict(lora) if lora else None)
        self._trainable_layers = int(trainable_layers)
        kwargs.pop("net_arch", None)
        kwargs["features_extractor_class"] = _NoFeatures
        kwargs.setdefault("ortho_init", False)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    # -- construction
    def _build(self, lr_schedule: Schedule) -> None:
        model = self._lm_spec_holder[0]
        if model is None or isinstance(model, str):
            from aigc_rl.models import load_causal_lm

            model, _ = load_causal_lm(model or "smollm2-135m-instruct", device="cpu")
        head = model.get_output_embeddings()
        check_token_spaces(
            self.observation_space, self.action_space, head.weight.shape[0] if head is not None else None
        )
        model.requires_grad_(False)
        if self._lora:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **self._lora))
        else:
            layers = (
                model.model.layers if hasattr(model, "model") and hasattr(model.model, "layers") else None
            )
            if layers is None or self._trainable_layers < 1:
                raise ValueError(
                    "lora=None needs a decoder with model.model.layers and trainable_layers >= 1; pass lora=True instead"
                )
            for layer in layers[-self._trainable_layers :]:
                layer.requires_grad_(True)
            if hasattr(model.model, "norm"):
                model.model.norm.requires_grad_(True)
        self.lm = model
        hidden = int(
            model.config.get_text_config().hidden_size
            if hasattr(model.config, "get_text_config")
            else model.config.hidden_size
        )
        self.value_net = nn.Linear(hidden, 1)
        nn.init.zeros_(self.value_net.weight)
        nn.init.zeros_(self.value_net.bias)
        self.action_net = nn.Identity()
        self.action_dist = CategoricalDistribution(int(self.action_space.n))
        trainable = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(trainable, lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        spec = self._lm_spec_holder[0]
        data.update(
            model=spec if isinstance(spec, str) else None,
            lora=self._lora,
            trainable_layers=self._trainable_layers,
        )
        return data

    # -- computation
    def _lm(self, obs: PyTorchObs) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token logits float32 ``(batch, vocab)`` and last hidden state ``(batch, hidden)``."""
        if not isinstance(obs, dict):
            raise UnsupportedSpaceError(
                "LMActorCriticPolicy expects dict observations with input_ids and attention_mask"
            )
        ids = obs["input_ids"].long()
        mask = obs["attention_mask"].long()
        if ids.dim() == 1:
            ids, mask = ids[None], mask[None]
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        out = self.lm(
            input_ids=ids, attention_mask=mask, position_ids=pos, output_hidden_states=True, use_cache=False
        )
        return out.logits[:, -1].float(), out.hidden_states[-1][:, -1].float()

    def forward(
        self, obs: PyTorchObs, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, hidden = self._lm(obs)
        dist = self.action_dist.proba_distribution(action_logits=logits)
        actions = dist.get_actions(deterministic=deterministic)
        return actions, self.value_net(hidden), dist.log_prob(actions)

    def evaluate_actions(
        self, obs: PyTorchObs, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, hidden = self._lm(obs)
        dist = self.action_dist.proba_distribution(action_logits=logits)
        return self.value_net(hidden), dist.log_prob(actions), dist.entropy()

    def get_distribution(self, obs: PyTorchObs) -> CategoricalDistribution:
        logits, _ = self._lm(obs)
        return self.action_dist.proba_distribution(action_logits=logits)

    def predict_values(self, obs: PyTorchObs) -> torch.Tensor:
        _, hidden = self._lm(obs)
        return self.value_net(hidden)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> torch.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)


def _lm_ppo_class() -> type:
    from stable_baselines3 import PPO

    class LMPPO(PPO):
        """PPO with :class:`LMActorCriticPolicy` whose spaces are checked *before* SB3 wraps the env.

        SB3 wraps the env in a ``DummyVecEnv`` before building the policy and fails there on a ``spaces.Text``
        observation with an unrelated ``TypeError``; ``LMPPO`` raises :class:`UnsupportedSpaceError` naming the
        wrapper to use instead (case E1, DLR-RM/stable-baselines3#1704).

        Args:
            env: A ``TokenGeneration-v0`` env (or any env with token-window observations and ``Discrete`` actions).
            model: The causal LM (object or name), passed to the policy.
            tokenizer: Its tokenizer (optional).
            lora: See :class:`LMActorCriticPolicy`.
            trainable_layers: See :class:`LMActorCriticPolicy`.
            **kwargs: Any ``PPO`` argument (``n_steps``, ``batch_size``, ``learning_rate``, ``policy_kwargs``, ...).

        Raises:
            UnsupportedSpaceError: see :func:`check_token_spaces`.
        """

        def __init__(
            self,
            env: Any,
            model: Any = None,
            tokenizer: Any = None,
            lora: dict[str, Any] | bool | None = True,
            trainable_layers: int = 1,
            **kwargs: Any,
        ) -> None:
            if not isinstance(env, str):
                check_token_spaces(env.observation_space, env.action_space)
            policy_kwargs = dict(kwargs.pop("policy_kwargs", None) or {})
            policy_kwargs.update(
                model=model, tokenizer=tokenizer, lora=lora, trainable_layers=trainable_layers
            )
            super().__init__(LMActorCriticPolicy, env, policy_kwargs=policy_kwargs, **kwargs)

    return LMPPO


LMPPO = _lm_ppo_class()
