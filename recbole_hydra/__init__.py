"""recbole-hydra: HydraRec, a linear-attention sequential recommender, as a RecBole plugin.

    import recbole_hydra
    from recbole.quick_start import run_recbole
    run_recbole(model="HydraRec", dataset="ml-100k")
"""

import warnings

# RecBole's quick_start imports Ray, and Ray 2.6 imports pkg_resources, which warns on every start
# with advice for Ray's maintainers, not for our users. Only that message, only from Ray, is hidden.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning, module=r"ray\.")

from recbole_hydra import registry  # noqa: E402  (after the filter: it imports RecBole, which imports Ray)
from recbole_hydra.attention import HydraAttention  # noqa: E402
from recbole_hydra.model import HydraRec  # noqa: E402
from recbole_hydra.streaming import StreamingRecommender  # noqa: E402

registry.install()

__all__ = ["HydraAttention", "HydraRec", "StreamingRecommender"]
__version__ = "0.1.0"
