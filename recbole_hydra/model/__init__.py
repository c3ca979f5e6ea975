"""The model: HydraRec (RecBole's model contract) and its parts, pure torch below HydraRec itself.

    mixers/             the token mixers (`attention`: hydra, softmax, linrec, elu); forward and step
    hydra_attention.py  the old import path of HydraAttention (now mixers/hydra.py)
    layer.py            HydraLayer: token mixer + feed-forward, post-LN; forward and step
    hydrarec.py         HydraRec(SequentialRecommender): embeddings, layers, losses, scores
    config_checks.py    HydraRec's settings, checked with messages that name the key

Imports nothing of ours but `recbole_hydra.validation` (the shared error type).
"""

from recbole_hydra.model.hydra_attention import HydraAttention
from recbole_hydra.model.hydrarec import HydraRec
from recbole_hydra.model.layer import HydraLayer

__all__ = ["HydraAttention", "HydraLayer", "HydraRec"]
