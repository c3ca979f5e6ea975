"""The model's own settings: every key HydraRec reads to build its layers, checked with a message that names it.

Called twice with the same function: when a RecBole Config for HydraRec is built (before RecBole
reads any data; see runtime/patches.py), and when the model is built from a config (a config
unpickled from a checkpoint, or made by hand). The keys of properties/HydraRec.yaml that shape the
training rows, not the model (train_scheme, cloze_copies, mask_ratio, ...), are the run's:
runtime/train_scheme.py checks them, and runtime/run_checks.py the sizes every run reads.
"""

from recbole_hydra.config_errors import (
    ConfigError,
    boolean,
    non_negative_int,
    one_of,
    positive_float,
    positive_int,
    probability,
)
from recbole_hydra.model.mixers import MIXERS, HydraAttention

HIDDEN_ACTIVATIONS = ("gelu", "relu", "swish", "tanh", "sigmoid")  # RecBole's FeedForward
LOSS_TYPES = ("CE", "BPR")
ATTENTIONS = tuple(MIXERS)  # hydra, softmax, linrec, elu
POSITIONS = ("absolute", "capped", "off")  # HydraRec.with_positions reads each; not "none", which the
# command line reads as None


def check_model_config(config):
    """Validate every key HydraRec reads; return them as a plain dict.

    `config` is a RecBole Config (or any mapping with `[]`); RecBole returns None for a
    missing key, which fails here with the key's name instead of deep inside torch.
    """
    hp = {
        "n_layers": positive_int(config, "n_layers"),
        "hidden_size": positive_int(config, "hidden_size"),
        "inner_size": positive_int(config, "inner_size"),
        "hidden_dropout_prob": probability(config, "hidden_dropout_prob"),
        "attn_dropout_prob": probability(config, "attn_dropout_prob"),
        "hidden_act": one_of(config, "hidden_act", HIDDEN_ACTIVATIONS),
        "layer_norm_eps": positive_float(config, "layer_norm_eps"),
        "initializer_range": positive_float(config, "initializer_range"),
        "loss_type": one_of(config, "loss_type", LOSS_TYPES),
        "bidirectional": boolean(config, "bidirectional"),
        # Absent from configs saved before the key existed: those ran eagerly.
        "compile": False if config["compile"] is None else boolean(config, "compile"),
        # Absent from configs saved before the keys existed: those used Hydra attention.
        "attention": "hydra" if config["attention"] is None else one_of(config, "attention", ATTENTIONS),
        "n_heads": 2 if config["n_heads"] is None else positive_int(config, "n_heads"),
        "local_window": 0 if config["local_window"] is None else non_negative_int(config, "local_window"),
        "hydra_mean": False if config["hydra_mean"] is None else boolean(config, "hydra_mean"),
        # Absent from configs saved before the key existed: those computed the loss unchunked.
        "loss_max_logits": None if config["loss_max_logits"] is None else positive_int(config, "loss_max_logits"),
        # Absent from configs saved before the key existed: those batched windows by count.
        "train_batch_events": 0
        if config["train_batch_events"] is None
        else non_negative_int(config, "train_batch_events"),
        # Absent from configs saved before the key existed: those had absolute positions.
        "positions": "absolute" if config["positions"] is None else one_of(config, "positions", POSITIONS),
    }
    if hp["attention"] != HydraAttention.name and hp["hidden_size"] % hp["n_heads"]:
        raise ConfigError(
            f"config key 'hidden_size' ({hp['hidden_size']}) must be divisible by 'n_heads' ({hp['n_heads']}) "
            f"for attention '{hp['attention']}' (each head has hidden_size / n_heads features)"
        )
    if hp["bidirectional"] and config["transform"] != "mask_itemseq":
        raise ConfigError(
            "config key 'transform' must be 'mask_itemseq' when 'bidirectional' is True "
            f"(masked-item training needs RecBole's mask transform), got {config['transform']!r}"
        )
    return hp
