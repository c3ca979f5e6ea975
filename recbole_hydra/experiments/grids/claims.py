"""The paper's claims, one grid: HydraRec against the other token mixers in the same skeleton, and
against RecBole's linear-time and softmax peers.

arXiv 2501.01242 claims that (1) HydraRec beats other linear-attention models in accuracy, (2) it
trains and infers faster, and (3) its bidirectional form is comparable to BERT4Rec. The grid:

* the skeleton with each token mixer, in both modes, trained the same way (HydraRec's defaults,
  whole-sequence windows): `hydra` (HydraRec), `softmax` (the control: the same model but for
  attention), `linrec` and `elu`;
* RecBole's own peers, trained per prefix as RecBole does: LightSANs (its linear-time attention),
  GRU4Rec (linear-time recurrence), SASRec and BERT4Rec, in batches of 512 prefix rows (PEER_SETTINGS).

Every row, peers included, trains under the same budget (experiments/grids/budget.py): the grid's shared
epochs, patience and evaluation cadence.

Cost and accuracy ratios in the table are over the softmax control of the same mode.
"""

from recbole_hydra.model.mixers import MIXERS
from recbole_hydra.runtime.defaults import mode_default

MODES = ("causal", "bidirectional")
PEERS = ("LightSANs", "GRU4Rec", "SASRec", "BERT4Rec")
# Batches of 512 prefix rows (RecBole's default, 2048, takes 4× fewer steps per epoch). No budget key
# here: the peers train as long as every other row (budget.py).
PEER_SETTINGS = {"train_batch_size": 512}
CONTROL = "softmax"


def skeleton_models(batch_sizes=()):
    """HydraRec in both modes with each token mixer; the default mixer (hydra) needs no setting.

    `batch_sizes`: windows a batch to try besides each mode's default. The defaults were chosen on
    Hydra's validation score, so every mixer gets the same choice, and claims.md reports each at
    the size its own validation score prefers (claims_report.py).
    """
    models = []
    for mode in MODES:
        default = mode_default("HydraRec", "train_batch_size", bidirectional=mode == "bidirectional")
        sizes = [None] + [size for size in dict.fromkeys(batch_sizes) if size != default]
        for size in sizes:
            for mixer in MIXERS:
                parts = [f"HydraRec:{mode}"] + ([] if mixer == "hydra" else [f"attention={mixer}"])
                models.append(":".join(parts + ([] if size is None else [f"train_batch_size={size}"])))
    return models


def peer_models():
    settings = ":".join(f"{key}={value}" for key, value in sorted(PEER_SETTINGS.items()))
    return [f"{peer}:{settings}" for peer in PEERS]


def references():
    """The softmax control of each mode: every ratio column divides by it."""
    return [f"HydraRec:{mode}:attention={CONTROL}" for mode in MODES]


def claims_models(peers=True, extra=(), batch_sizes=()):
    """The --models list of the claims grid (peers left out where they cannot train, e.g. ml-1m at N = 200)."""
    return skeleton_models(batch_sizes) + (peer_models() if peers else []) + list(extra)
