"""recbole-hydra: HydraRec, a linear-attention sequential recommender, as a RecBole plugin.

    import recbole_hydra
    from recbole.quick_start import run_recbole
    run_recbole(model="HydraRec", dataset="ml-100k")
"""

from recbole_hydra import registry
from recbole_hydra.attention import HydraAttention
from recbole_hydra.model import HydraRec
from recbole_hydra.streaming import StreamingRecommender

registry.install()

__all__ = ["HydraAttention", "HydraRec", "StreamingRecommender"]
__version__ = "0.1.0"
