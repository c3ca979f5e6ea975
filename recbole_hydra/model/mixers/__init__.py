"""The token mixers a HydraLayer can use.

    common.py     TokenMixer (projections around a mixing rule), the mask and shape helpers
    hydra.py      Hydra attention, one head per feature, cosine kernel
    hydra_mix.py  Hydra's mixing step as tensor functions (hand-written backward, compiled form, step)

Pure torch: nothing here imports RecBole.
"""

from recbole_hydra.model.mixers.hydra import HydraAttention

__all__ = ["HydraAttention"]
