"""The model: HydraRec (RecBole's model contract) and its parts, pure torch below HydraRec itself.

    hydrarec.py         HydraRec(SequentialRecommender): embeddings, layers, losses, scores; forward and step
    layer.py            HydraLayer: token mixer + feed-forward, post-LN; forward and step
    mixers/             the token mixers (`attention`: hydra, softmax, linrec, elu); forward and step
    local_mixing.py     LocalMixing: each position also sees its neighbours (`local_window`; causal: earlier ones)
    losses.py           the cross-entropy over all items, chunk by chunk
    dropout.py          dropout with a cheaper random mask on CPUs
    config_checks.py    the model's settings, checked with messages that name the key

Imports nothing of ours but `recbole_hydra.config_errors` (the shared error type).
"""

from recbole_hydra.model.hydrarec import HydraRec
from recbole_hydra.model.layer import HydraLayer
from recbole_hydra.model.mixers import HydraAttention

__all__ = ["HydraAttention", "HydraLayer", "HydraRec"]
