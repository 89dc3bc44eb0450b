"""The language-model track: transformers causal LMs as agents, teachers and students.

Needs the ``lm`` extra (``pip install -e ".[lm]"``): transformers, tokenizers, safetensors.
"""

from __future__ import annotations

from subliminal_gym.baselines.lm.agent import GenerationStats, LMAgent
from subliminal_gym.baselines.lm.model import (
    SPECIAL_TOKENS,
    TINY_CONFIGS,
    build_tiny_lm,
    load_lm,
    place_lm,
    save_lm,
    train_tokenizer,
)
from subliminal_gym.baselines.lm.prompt import (
    TINY_CHAT_TEMPLATE,
    episode_messages,
    parse_action,
    render_prompt,
    system_message,
)
from subliminal_gym.baselines.lm.train import LMEpisode, LMTrainConfig, LMTrainLog, encode_episode, finetune_lm

__all__ = [
    "SPECIAL_TOKENS",
    "TINY_CHAT_TEMPLATE",
    "TINY_CONFIGS",
    "GenerationStats",
    "LMAgent",
    "LMEpisode",
    "LMTrainConfig",
    "LMTrainLog",
    "build_tiny_lm",
    "encode_episode",
    "episode_messages",
    "finetune_lm",
    "load_lm",
    "place_lm",
    "parse_action",
    "render_prompt",
    "save_lm",
    "system_message",
    "train_tokenizer",
]
