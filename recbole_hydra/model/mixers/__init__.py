"""The token mixers a HydraLayer can use, by the name the `attention` setting gives.

    token_mixer.py       TokenMixer (projections around a mixing rule), MultiHeadMixer, mask and shape helpers
    hydra.py             hydra: Hydra attention, one head per feature, cosine kernel (the default)
    hydra_kernels.py     Hydra's mixing step as tensor functions (hand-written backward, compiled form, step)
    softmax.py           softmax: multi-head scaled dot-product attention, the O(N²) control
    linear_attention.py  what linrec and elu share: the linear-time sum Σ_s (q_t · k_s) v_s, heads, masks, state
    linrec.py            linrec: LinRec's L2-normalised linear attention, causal and mask-aware
    elu.py               elu: the linear transformer of Katharopoulos et al. (φ = elu + 1)

All offer `forward(x, mask, index=None)`; hydra, linrec and elu also `initial_state` and `step`.
Pure torch: nothing here imports RecBole.
"""

from recbole_hydra.model.mixers.elu import EluAttention
from recbole_hydra.model.mixers.hydra import HydraAttention
from recbole_hydra.model.mixers.linrec import LinRecAttention
from recbole_hydra.model.mixers.softmax import SoftmaxAttention

MIXERS = {cls.name: cls for cls in (HydraAttention, SoftmaxAttention, LinRecAttention, EluAttention)}


def build_mixer(name, hidden_size, causal, dropout=0.0, n_heads=2, compile=False, hydra_mean=False):
    """The mixer called `name`. Hydra has one head per feature and ignores n_heads; only Hydra
    compiles, and only Hydra takes `hydra_mean` (see HydraAttention)."""
    if name not in MIXERS:
        raise ValueError(f"attention must be one of {list(MIXERS)}, got {name!r}")
    if name == HydraAttention.name:
        return HydraAttention(hidden_size, causal=causal, dropout=dropout, compile=compile, mean=hydra_mean)
    return MIXERS[name](hidden_size, causal=causal, dropout=dropout, n_heads=n_heads)


__all__ = ["MIXERS", "EluAttention", "HydraAttention", "LinRecAttention", "SoftmaxAttention", "build_mixer"]
