"""recbole-hydra: HydraRec, a linear-attention sequential recommender, as a RecBole plugin.

    import recbole_hydra
    from recbole.quick_start import run_recbole
    run_recbole(model="HydraRec", dataset="ml-100k")

Rooms (docs/design.md): model/ (HydraRec, pure torch below it), runtime/ (everything that knows
RecBole's internals), online/ (streaming states), serving/ (the HTTP service), data/ (input files),
experiments/ (compare, tune, bench), cli/ (argument parsing); config_errors.py and files.py are
leaves every room may use.
"""

import warnings

# RecBole's quick_start imports Ray, and Ray 2.6 imports pkg_resources, which warns on every start
# with advice for Ray's maintainers, not for our users. Only that message, only from Ray, is hidden.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning, module=r"ray\.")

from recbole_hydra.model import HydraAttention, HydraRec  # noqa: E402  (after the filter: RecBole imports Ray)
from recbole_hydra.online import StreamingRecommender  # noqa: E402
from recbole_hydra.runtime import patches  # noqa: E402

patches.install()

__all__ = ["HydraAttention", "HydraRec", "StreamingRecommender"]
__version__ = "0.2.0"
