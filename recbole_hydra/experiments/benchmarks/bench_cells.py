"""Step time and peak memory against history length: HydraRec beside RecBole's sequential models.

One *cell* is one model (and mode) at one history length N:

* batch_size = max(1, token_budget // N) and every history is full (N real items), so each model
  processes the same number of tokens per step whatever N is;
* train step: zero_grad → calculate_loss → backward → Adam step, the body of RecBole's trainer;
* inference step: full_sort_predict under no_grad (a score for every item), as RecBole's
  full-sort evaluation calls it;
* `warmup` untimed steps, then `repeats` timed ones; the median is reported;
* peak memory of the steps after the first, above what the process held after the first
  (`measure.PeakMemory`): a step's working memory, not one-time state such as Adam's moments.

Every model gets the same sizes (hidden, layers, inner = 4·hidden, 2 heads where it has heads),
the same CE loss over all items, the same dropout and the same batch. Models are built the RecBole
way (our `build_config`, a RecBole dataset, `get_model`); batches are synthetic, with the fields
RecBole's sequential dataloaders produce, and go through RecBole's own batch transform (the
Cloze masking of BERT4Rec and bidirectional HydraRec), so masked fields are real.

`bench_runner` runs each cell in a fresh process; this module is what runs inside it.
`bench_report` turns the rows into tables, files and a plot.

How a step is timed and its memory measured: measure.py.
"""

import statistics
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from recbole_hydra.experiments.benchmarks.measure import PeakMemory, clock_name, limit_address_space, time_steps
from recbole_hydra.experiments.grids.grid import recbole_mode
from recbole_hydra.model import HydraAttention, HydraLayer
from recbole_hydra.model.mixers.token_mixer import gather_positions

DEFAULT_LENGTHS = (50, 200, 1000, 4000)
DEFAULT_MODELS = ("HydraRec", "SASRec", "BERT4Rec", "LightSANs")
REFERENCE_MODEL = "SASRec"
HYDRA = "HydraRec"

# Variants of HydraRec that split its step into parts (only used for the breakdown table).
FULL = "full"
# A ladder from "SASRec with Hydra attention swapped in" to HydraRec, then HydraRec taken apart:
PLAIN = "plain"  # last layer at every position and RecBole's unfused GELU, as RecBole's models
RECBOLE_GELU = "recbole_gelu"  # HydraRec with RecBole's unfused GELU (last layer at targets only)
NO_MIX = "no_mix"  # Hydra's mixing step removed, projections kept: out(dropout(v))
NO_LAYERS = "no_layers"  # no encoder layers at all: embeddings + CE over all items + Adam
PARTS = (PLAIN, RECBOLE_GELU, NO_MIX, NO_LAYERS)
COMPILED = "compile"  # the mixing step through torch.compile (config key `compile: True`)
MIXER_PREFIX = "attention="  # variant of HydraRec with another token mixer: "attention=softmax"


def mixer_variant(mixer):
    """The cell variant of HydraRec with token mixer `mixer` (hydra itself is the FULL model)."""
    return FULL if mixer == "hydra" else MIXER_PREFIX + mixer


def is_whole_model(variant):
    """A variant that is a whole model (the main table's rows), not a part of the breakdown."""
    return variant in (FULL, COMPILED) or variant.startswith(MIXER_PREFIX)


CSV_COLUMNS = [
    "model",
    "mode",
    "variant",
    "seq_len",
    "batch_size",
    "train_ms",
    "infer_ms",
    "peak_mem_mb",
    "infer_peak_mem_mb",
    "mem_measure",
    "train_wall_ms",
    "infer_wall_ms",
    "clock",
    "train_steps_timed",
    "infer_steps_timed",
    "rounds",
    "status",
    "note",
]
LAYER_COLUMNS = [
    "mode",
    "seq_len",
    "batch_size",
    "layer_train_ms",
    "no_mix_train_ms",
    "train_overhead",
    "layer_infer_ms",
    "no_mix_infer_ms",
    "infer_overhead",
    "clock",
]


@dataclass(frozen=True)
class BenchSettings:
    lengths: tuple = DEFAULT_LENGTHS
    models: tuple = DEFAULT_MODELS
    device: str = "cpu"
    hidden_size: int = 64
    layers: int = 2
    token_budget: int = 16384  # tokens (batch_size × N) per step
    repeats: int = 5
    warmup: int = 2
    threads: int = 1  # torch threads per cell; 1 keeps cells comparable on a shared machine
    cell_timeout_s: float = 300.0
    phase_budget_s: float = 20.0  # timing of one phase stops after this, once 3 steps are timed
    memory_limit_mb: int = 8192  # CPU only: address space a cell may add after building its model
    dataset: str = "ml-100k"
    dropout: float = 0.5
    parts: bool = True  # also run the variants of causal HydraRec in PARTS (the breakdown)
    layer_overhead: bool = True  # also time one HydraLayer with and without its mixing step
    compile: bool = False  # also run HydraRec (causal) with `compile: True`
    mixers: tuple = ("hydra",)  # HydraRec's token mixers to time (`attention`), each in both modes
    amp: bool = False  # bf16 autocast (CPU) / fp16 autocast (CUDA) for every model's steps
    isolate: bool = True  # each cell in a fresh process; False: all in this one (quick checks)
    rounds: int = 1  # run the whole plan this many times; each cell reports its median round


@dataclass(frozen=True)
class Cell:
    model: str
    mode: str  # "causal" or "bidirectional"
    seq_len: int
    batch_size: int
    variant: str = FULL


def batch_size_for(settings, seq_len):
    return max(1, settings.token_budget // seq_len)


def plan_cells(settings):
    """The cells to run, grouped by N so that the models at one N run close together in time."""
    cells = []
    for n in settings.lengths:
        b = batch_size_for(settings, n)
        for model in settings.models:
            if model == HYDRA:
                for mixer in settings.mixers:
                    cells.append(Cell(HYDRA, "causal", n, b, mixer_variant(mixer)))
                    cells.append(Cell(HYDRA, "bidirectional", n, b, mixer_variant(mixer)))
                if settings.compile:
                    cells.append(Cell(HYDRA, "causal", n, b, COMPILED))
            else:
                mode = "bidirectional" if recbole_mode(model) == "bidirectional" else "causal"
                cells.append(Cell(model, mode, n, b))
        if settings.parts:
            cells += [Cell(HYDRA, "causal", n, b, variant) for variant in PARTS]
    return cells


def model_overrides(cell, settings):
    """RecBole settings for one cell: the same sizes, loss and dropout for every model."""
    overrides = {
        "MAX_ITEM_LIST_LENGTH": cell.seq_len,
        "hidden_size": settings.hidden_size,
        "inner_size": 4 * settings.hidden_size,
        "n_layers": settings.layers,
        "hidden_dropout_prob": settings.dropout,
        "attn_dropout_prob": settings.dropout,
        "hidden_act": "gelu",
        "loss_type": "CE",
        "use_gpu": settings.device == "cuda",
        "state": "ERROR",
        "show_progress": False,
    }
    if cell.model != HYDRA or cell.variant.startswith(MIXER_PREFIX):
        overrides["n_heads"] = 2  # RecBole's models' and HydraRec's other mixers' heads
    if cell.mode == "bidirectional":
        # ft_ratio 0: every batch is a Cloze batch (RecBole's transform would otherwise, at random,
        # mask only the last item of a whole batch), so repeated steps cost the same.
        overrides.update(mask_ratio=0.2, ft_ratio=0.0)
    if cell.model == HYDRA:
        overrides["bidirectional"] = cell.mode == "bidirectional"
        overrides["compile"] = cell.variant == COMPILED
        if cell.variant.startswith(MIXER_PREFIX):
            overrides["attention"] = cell.variant[len(MIXER_PREFIX) :]
    return overrides


# ----- measuring, inside a worker process ----------------------------------------------------


def _without_mixing(qkv, mask, index=None):
    """Hydra attention minus its mixing step: the value projection goes straight to W_o."""
    v = qkv[..., 2 * qkv.size(-1) // 3 :]  # (B, N, D)
    return v if index is None else gather_positions(v, index)


class _NoLayer(nn.Module):
    """Stands in for the encoder layers: returns its input (at `index` when given)."""

    def forward(self, x, mask, index=None):
        return x if index is None else gather_positions(x, index)


def apply_variant(model, variant, hidden_act="gelu"):
    """Turn a HydraRec into one of the PARTS variants (in place); FULL and COMPILED need nothing."""
    if variant == NO_MIX:
        for module in model.modules():
            if isinstance(module, HydraAttention):
                module.mix = _without_mixing
    elif variant == NO_LAYERS:
        model.layers = nn.ModuleList([_NoLayer()])
    if variant in (PLAIN, RECBOLE_GELU):
        for layer in model.layers:  # back to RecBole's own activation function
            ffn = layer.feed_forward
            ffn.intermediate_act_fn = ffn.get_hidden_act(hidden_act)
    if variant == PLAIN:
        encode = model.encode

        def encode_everywhere(item_seq, index=None):  # every position, then pick
            out = encode(item_seq)  # (B, N, D)
            return out if index is None else gather_positions(out, index)

        model.encode = encode_everywhere


def synthetic_batch(config, n_items, batch_size, seq_len):
    """Full histories of random real items and a random next item, under RecBole's field names."""
    from recbole_hydra.runtime.datasets import as_batch

    items = torch.randint(1, n_items, (batch_size, seq_len + 1))  # (B, N + 1); 0 is padding
    return as_batch(
        {
            config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]: items[:, :-1],  # (B, N)
            config["ITEM_LIST_LENGTH_FIELD"]: torch.full((batch_size,), seq_len),  # (B,)
            config["ITEM_ID_FIELD"]: items[:, -1],  # (B,)
        }
    )


def _autocast(settings):
    dtype = torch.bfloat16 if settings.device == "cpu" else torch.float16
    return torch.autocast(settings.device, dtype=dtype, enabled=settings.amp)


def measure_cell(cell, settings):
    """Build one cell's model and batch, time its steps, measure its memory: one csv row (dict)."""
    from recbole_hydra.runtime.config import build_config
    from recbole_hydra.runtime.datasets import batch_transform, read_dataset
    from recbole_hydra.runtime.training import make_model

    config = build_config(cell.model, settings.dataset, overrides=model_overrides(cell, settings))
    dataset = read_dataset(config)
    transform = batch_transform(config)  # before the model: it names the mask fields it reads
    model = make_model(config, dataset)
    apply_variant(model, cell.variant, config["hidden_act"])
    device = config["device"]
    model = model.to(device)
    batch = transform(
        dataset, synthetic_batch(config, dataset.num(config["ITEM_ID_FIELD"]), cell.batch_size, cell.seq_len)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with _autocast(settings):
            loss = model.calculate_loss(batch)
        loss.backward()
        optimizer.step()
        return loss  # a 0-dim tensor

    def infer_step():
        with torch.no_grad(), _autocast(settings):
            return model.full_sort_predict(batch)

    row = empty_row(cell, settings, status="ok")
    memory = PeakMemory(device)
    row["mem_measure"] = memory.kind
    limit_address_space(settings)

    model.train()
    losses = []
    row["train_ms"], row["train_wall_ms"], row["train_steps_timed"] = time_steps(
        lambda: losses.append(train_step().detach()), settings, sync, after_first_step=memory.start
    )
    row["peak_mem_mb"] = memory.peak_mb()
    if not all(torch.isfinite(loss) for loss in losses):
        row.update(status="error", note="non-finite training loss")
        return row

    model.eval()
    row["infer_ms"], row["infer_wall_ms"], row["infer_steps_timed"] = time_steps(
        infer_step, settings, sync, after_first_step=memory.start
    )
    row["infer_peak_mem_mb"] = memory.peak_mb()
    return row


def measure_layer_overhead(settings):
    """One HydraLayer with and without its mixing step (same weights, same input), per N and mode.

    Train = forward + backward to the layer's input and weights; infer = forward under no_grad.
    The two layers alternate step by step so load changes hit both alike, and each is timed
    2·repeats + 1 times (a step here is short, and the difference sought is small).
    """
    device = torch.device(settings.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    one = replace(settings, repeats=1, warmup=0)
    rows = []
    for n in settings.lengths:
        b = batch_size_for(settings, n)
        for mode in ("causal", "bidirectional"):
            torch.manual_seed(0)
            d = settings.hidden_size
            layer = HydraLayer(d, 4 * d, mode == "causal", settings.dropout, settings.dropout, "gelu", 1e-12)
            layer = layer.to(device)
            x = torch.randn(b, n, d, device=device, requires_grad=True)  # (B, N, D)
            mask = torch.ones(b, n, dtype=torch.bool, device=device)  # full histories

            def train(layer=layer, x=x, mask=mask):
                with _autocast(settings):
                    out = layer(x, mask)
                out.float().sum().backward()

            def infer(layer=layer, x=x, mask=mask):
                with torch.no_grad(), _autocast(settings):
                    layer(x, mask)

            times = {key: [] for key in ("train", "train_nomix", "infer", "infer_nomix")}
            for repeat in range(settings.warmup + 2 * settings.repeats + 1):
                for suffix, mix in (("", None), ("_nomix", _without_mixing)):
                    if mix is None:
                        layer.attention.__dict__.pop("mix", None)  # back to the class's own method
                    else:
                        layer.attention.mix = mix
                    layer.train()
                    train_ms = time_steps(train, one, sync)[0]
                    layer.eval()
                    infer_ms = time_steps(infer, one, sync)[0]
                    if repeat >= settings.warmup:
                        times["train" + suffix].append(train_ms)
                        times["infer" + suffix].append(infer_ms)
            med = {key: statistics.median(values) for key, values in times.items()}
            rows.append(
                {
                    "mode": mode,
                    "seq_len": n,
                    "batch_size": b,
                    "layer_train_ms": med["train"],
                    "no_mix_train_ms": med["train_nomix"],
                    "train_overhead": med["train"] / med["train_nomix"] - 1,
                    "layer_infer_ms": med["infer"],
                    "no_mix_infer_ms": med["infer_nomix"],
                    "infer_overhead": med["infer"] / med["infer_nomix"] - 1,
                    "clock": clock_name(settings),
                }
            )
    return rows


def empty_row(cell, settings, status, note=""):
    """A row for `cell` without measurements (yet, or ever: a cell that could not finish)."""
    row = {column: None for column in CSV_COLUMNS}
    row.update(asdict(cell), clock=clock_name(settings), rounds=1 if status == "ok" else 0, status=status, note=note)
    return row


def _is_out_of_memory(error):
    text = str(error).lower()
    return isinstance(error, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def measure_or_record(cell, settings):
    """`measure_cell`, with a failure (out of memory, a model that cannot run) as a row."""
    try:
        return measure_cell(cell, settings)
    except Exception as error:  # recorded in the table; the run goes on
        status = "oom" if _is_out_of_memory(error) else "error"
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        return empty_row(cell, settings, status, note=f"{type(error).__name__}: {message}")
