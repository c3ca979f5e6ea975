"""Where HydraAttention lived before the token mixers got their own sub-package (model/mixers/).

Kept so that `from recbole_hydra.model.hydra_attention import HydraAttention` still works.
"""

from recbole_hydra.model.mixers.hydra import HydraAttention

__all__ = ["HydraAttention"]
