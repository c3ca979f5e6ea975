"""Every token mixer (`attention`: hydra, softmax, linrec, elu) in both modes: its formula against a
naive O(N²) evaluation, masking and causality, zero vectors and bf16, outputs at chosen positions,
the recurrent step at mixer, layer and model level, streaming, and one tiny training run each."""

import math

import pytest
import torch
import torch.nn.functional as F
from recbole.data import create_dataset
from recbole.data.transform import construct_transform
from recbole.utils import get_model

from recbole_hydra import StreamingRecommender
from recbole_hydra.model import HydraLayer, HydraRec
from recbole_hydra.model.mixers import MIXERS, build_mixer
from recbole_hydra.model.mixers.linear_attention import causal_kernel_mix
from recbole_hydra.model.mixers.token_mixer import gather_positions
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import train_and_test

from helpers import overrides, write_dataset

B, N, D, H = 3, 7, 8, 2
NAMES = list(MIXERS)
RECURRENT = [name for name in NAMES if MIXERS[name].recurrent]
MODES = {"causal": True, "bidirectional": False}
EPS = 1e-6


# ----- the formulas, one (t, s) pair at a time ------------------------------------------------


def _unit(x):
    return x / x.norm().clamp_min(EPS)


def _hydra(q, keys, values):
    """φ(q) ⊙ Σ_s φ(k_s) ⊙ v_s, φ(x) = x / ‖x‖."""
    total = torch.zeros_like(q)
    for k, v in zip(keys, values):
        total = total + _unit(k) * v
    return _unit(q) * total


def _softmax(q, keys, values):
    """Σ_s softmax_s(q · k_s / √d) v_s."""
    scores = torch.stack([q @ k / math.sqrt(q.numel()) for k in keys])
    weights = scores.exp() / scores.exp().sum()
    return sum(w * v for w, v in zip(weights, values))


def _linrec(q, keys, values):
    """Σ_s (q̂ · k_s / n) v_s: q̂ = elu(q) / ‖elu(q)‖, k_s = elu(k_s), n_j = ‖(k_{s,j})_s‖ over the visible s."""
    q_hat = _unit(F.elu(q))
    keys = [F.elu(k) for k in keys]
    norms = torch.stack([k.square() for k in keys]).sum(0).sqrt().clamp_min(EPS)
    return sum((q_hat @ (k / norms)) * v for k, v in zip(keys, values))


def _elu(q, keys, values):
    """Σ_s (φ(q) · φ(k_s)) v_s / (Σ_s φ(q) · φ(k_s) + ε), φ = elu + 1."""
    weights = [(F.elu(q) + 1) @ (F.elu(k) + 1) for k in keys]
    return sum(w * v for w, v in zip(weights, values)) / (sum(weights) + EPS)


FORMULAS = {"hydra": (_hydra, 1), "softmax": (_softmax, H), "linrec": (_linrec, H), "elu": (_elu, H)}


def naive(mixer, x, mask):
    """W_o(mix) with mix_t evaluated per position over the visible s (real, ≤ t if causal), per head."""
    formula, heads = FORMULAS[mixer.name]
    q, k, v = mixer.qkv(x).chunk(3, dim=-1)  # 3 × (B, N, D)
    mixed = torch.zeros_like(x)
    for b in range(x.size(0)):
        for t in range(x.size(1)):
            seen = [s for s in range(x.size(1)) if mask[b, s] and (s <= t or not mixer.causal)]
            if not seen:
                continue
            if heads == 1:  # hydra: one head per feature, elementwise
                mixed[b, t] = formula(q[b, t], k[b, seen], v[b, seen])
                continue
            for h in range(heads):
                cols = slice(h * D // heads, (h + 1) * D // heads)
                mixed[b, t, cols] = formula(q[b, t, cols], k[b, seen, cols], v[b, seen, cols])
    return mixer.out(mixed)


def right_padded_mask(lengths, n=N):
    return torch.arange(n).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def make(name, causal, dtype=torch.float64):
    torch.manual_seed(0)
    return build_mixer(name, D, causal, n_heads=H).to(dtype).eval()


@pytest.fixture
def inputs():
    torch.manual_seed(1)
    return torch.randn(B, N, D, dtype=torch.float64), right_padded_mask([7, 4, 1])


every_mixer = pytest.mark.parametrize("name", NAMES)
every_mode = pytest.mark.parametrize("mode", list(MODES))


# ----- the formula and its masks ----------------------------------------------------------------


@every_mixer
@every_mode
def test_matches_naive_reference_with_padding(inputs, name, mode):
    x, mask = inputs
    mixer = make(name, MODES[mode])
    got = mixer(x, mask)
    assert got.shape == (B, N, D)
    real = mask.unsqueeze(-1).expand_as(got)
    torch.testing.assert_close(got[real], naive(mixer, x, mask)[real])


@pytest.mark.parametrize("length", [1, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_chunked_causal_sum_equals_prefix_sums(length, chunk):
    """The linear mixers' causal sum, chunk by chunk, against q_tᵀ S_t with S_t kept at every position:
    sequences shorter than, equal to and not a multiple of the chunk."""
    q, k, v = (torch.randn(2, length, H, 4, dtype=torch.float64) for _ in range(3))
    prefix_sums = torch.einsum("bnhi,bnhj->bnhij", k, v).cumsum(dim=1)  # (B, N, H, d, e)
    expected = torch.einsum("bnhi,bnhij->bnhj", q, prefix_sums)
    torch.testing.assert_close(causal_kernel_mix(q, k, v, chunk), expected)


@every_mixer
def test_causal_output_ignores_the_future(inputs, name):
    x, mask = inputs
    mixer = make(name, causal=True)
    t = 3
    changed = x.clone()
    changed[:, t + 1 :] = torch.randn_like(changed[:, t + 1 :]) * 10
    torch.testing.assert_close(mixer(changed, mask)[:, : t + 1], mixer(x, mask)[:, : t + 1])


@every_mixer
@every_mode
def test_padding_never_influences_real_positions(inputs, name, mode):
    x, mask = inputs
    mixer = make(name, MODES[mode])
    changed = torch.where(mask.unsqueeze(-1), x, torch.randn_like(x) * 100)
    real = mask.unsqueeze(-1).expand_as(x)
    torch.testing.assert_close(mixer(changed, mask)[real], mixer(x, mask)[real])


@every_mixer
def test_bidirectional_output_sees_later_items(inputs, name):
    x, mask = inputs
    mixer = make(name, causal=False)
    changed = x.clone()
    changed[0, -1] += 1.0  # the last item of the full-length row
    assert not torch.allclose(mixer(changed, mask)[0, :-1], mixer(x, mask)[0, :-1])


@every_mixer
@every_mode
def test_zero_vectors_and_all_padding_stay_finite(name, mode):
    mixer = make(name, MODES[mode], torch.float32).train()
    with torch.no_grad():  # q, k and v are exactly zero: no norm or denominator may divide by zero
        mixer.qkv.weight.zero_()
        mixer.qkv.bias.zero_()
    x = torch.zeros(2, N, D, requires_grad=True)
    mask = right_padded_mask([0, 3])  # one row has no real item at all
    out = mixer(x, mask)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in mixer.parameters())
    fresh = make(name, MODES[mode], torch.float32)  # random weights, a row of padding only
    assert torch.isfinite(fresh(torch.randn(2, N, D), mask)).all()


@every_mixer
@every_mode
def test_bf16_stays_close_to_fp32(inputs, name, mode):
    x, mask = inputs
    mixer = make(name, MODES[mode], torch.float32)
    low = mixer.to(torch.bfloat16)(x.to(torch.bfloat16), mask)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    full = mixer.float()(x.float(), mask)
    real = mask.unsqueeze(-1).expand_as(full)
    torch.testing.assert_close(low.float()[real], full[real], rtol=0.05, atol=0.02)


@every_mixer
@pytest.mark.parametrize(
    "mode, index",
    [("causal", [[6], [3], [0]]), ("causal", [[2], [0], [5]]), ("bidirectional", [[0, 2, 2], [1, 0, 3], [0, 0, 6]])],
    ids=["causal-at-last-items", "causal-anywhere", "bidirectional-repeated"],
)
def test_outputs_at_chosen_positions_equal_all_outputs_gathered(inputs, name, mode, index):
    """At real positions; a padding position's output is never read (zeros when run everywhere)."""
    x, mask = inputs
    mixer = make(name, MODES[mode])
    index = torch.tensor(index)
    real = mask.gather(1, index)  # (B, M)
    assert real.any()
    torch.testing.assert_close(mixer(x, mask, index)[real], gather_positions(mixer(x, mask), index)[real])


# ----- the recurrent step -----------------------------------------------------------------------


@pytest.mark.parametrize("name", RECURRENT)
def test_step_replays_forward_position_by_position(inputs, name):
    x, _ = inputs
    mixer = make(name, causal=True)
    full = mixer(x, torch.ones(B, N, dtype=torch.bool))  # (B, N, D)
    state = mixer.initial_state(B)
    assert state.size(0) == B and not state.any()
    for t in range(N):
        out, state = mixer.step(x[:, t], state)
        torch.testing.assert_close(out, full[:, t])


@pytest.mark.parametrize("name", RECURRENT)
def test_step_state_is_fp32_for_bf16_weights(name):
    mixer = make(name, True, torch.bfloat16)
    state = mixer.initial_state(2)
    assert state.dtype == torch.float32
    out, state = mixer.step(torch.randn(2, D, dtype=torch.bfloat16), state)
    assert out.dtype == torch.bfloat16 and state.dtype == torch.float32


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("local_window", [0, 2])
def test_layer_step_replays_layer_forward(inputs, name, local_window):
    x, _ = inputs
    torch.manual_seed(0)
    layer = HydraLayer(D, 2 * D, True, 0.0, 0.0, "gelu", 1e-12, attention=name, n_heads=H, local_window=local_window)
    layer = layer.double().eval()
    if local_window:
        torch.nn.init.normal_(layer.local.conv.weight)  # it starts at zero, which would prove nothing
    full = layer(x, torch.ones(B, N, dtype=torch.bool))
    state = layer.initial_state(B)
    for t in range(N):
        out, state = layer.step(x[:, t], state)
        torch.testing.assert_close(out, full[:, t])


@every_mixer
def test_bidirectional_mixers_have_no_step(inputs, name):
    mixer = make(name, causal=False)
    with pytest.raises(ValueError, match="causal"):
        mixer.step(inputs[0][:, 0], None)


def test_softmax_has_no_recurrent_step(inputs):
    mixer = make("softmax", causal=True)
    assert not mixer.recurrent
    with pytest.raises(ValueError, match="'softmax' has no recurrent step"):
        mixer.initial_state(B)
    with pytest.raises(ValueError, match="'softmax' has no recurrent step"):
        mixer.step(inputs[0][:, 0], None)


def test_heads_must_divide_the_hidden_size():
    with pytest.raises(ValueError, match=r"hidden_size \(8\) must be divisible by n_heads \(3\)"):
        build_mixer("linrec", 8, True, n_heads=3)
    with pytest.raises(ValueError, match="attention must be one of"):
        build_mixer("linear", 8, True)
    assert build_mixer("hydra", 9, True, n_heads=2).hidden_size == 9  # one head per feature: n_heads unused


# ----- the model: step, chosen positions, streaming, training ---------------------------------


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixers")
    write_dataset(folder, name="syn", users=40, items=30, per_user=12)
    return folder


def tiny_model(folder, attention, bidirectional=False, **settings):
    """A random-init HydraRec on the synthetic dataset: (model in float64, eval mode; its dataset).
    A local term's weights are drawn at random too (they start at zero)."""
    base = dict(attention=attention, n_heads=H, hidden_size=D, n_layers=2, MAX_ITEM_LIST_LENGTH=6)
    settings = overrides(folder, **{**base, **settings})
    config = build_config("HydraRec", "syn", overrides=dict(settings, bidirectional=bidirectional))
    dataset = create_dataset(config)
    construct_transform(config)  # names the mask fields the bidirectional model reads
    torch.manual_seed(0)
    model = get_model("HydraRec")(config, dataset).double().eval()
    for layer in model.layers:
        if layer.local is not None:
            torch.nn.init.normal_(layer.local.conv.weight)
    return model, dataset


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("local_window", [0, 2])
def test_model_step_replays_encode(data_folder, name, local_window):
    model, _ = tiny_model(data_folder, name, local_window=local_window)
    assert model.recurrent
    n = model.max_seq_length
    seq = torch.randint(1, model.n_items, (4, n))  # (B, N) full histories
    with torch.no_grad():
        full = model.encode(seq)  # (B, N, D)
        states = model.initial_state(4)
        assert len(states) == 2
        for t in range(n):
            h, states = model.step(seq[:, t], torch.full((4,), t), states)
            torch.testing.assert_close(h, full[:, t])


@every_mixer
@every_mode
def test_last_layer_at_chosen_positions_equals_everywhere_then_gather(data_folder, name, mode):
    """encode(seq, index) computes the last layer only at `index`; the result must not change at a
    real position (what a layer leaves at padding is never read: zeros when run everywhere)."""
    model, _ = tiny_model(data_folder, name, bidirectional=not MODES[mode])
    n = model.max_seq_length
    lengths = torch.tensor([n, 5, 1, 3])
    seq = torch.randint(1, model.n_items, (4, n)) * (torch.arange(n) < lengths.unsqueeze(1))  # right padding
    index = (lengths - 1).unsqueeze(1) if MODES[mode] else torch.randint(0, n, (4, 3))
    real = seq.gather(1, index) != 0  # (4, M)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(seq, index)[real], gather_positions(model.encode(seq), index)[real])


@pytest.mark.parametrize(
    "name, local_window", [("linrec", 0), ("elu", 0), ("hydra", 2), ("linrec", 2)]
)  # hydra without a local term: tests/online
def test_streamed_scores_equal_full_sort_predict(data_folder, name, local_window, tmp_path):
    """Within the window (the recurrence) and past it (re-encoded), and after a save and a load."""
    model, dataset = tiny_model(data_folder, name, local_window=local_window)
    n = model.max_seq_length
    stream = StreamingRecommender(model, dataset)
    torch.manual_seed(2)
    histories = {f"user{u}": torch.randint(1, model.n_items, (n + 4,)).tolist() for u in range(5)}

    def expected(users, count):  # RecBole's input: the last N items, right-padded
        seqs = torch.zeros(len(users), n, dtype=torch.long)
        for row, user in enumerate(users):
            window = histories[user][:count][-n:]
            seqs[row, : len(window)] = torch.tensor(window)
        lengths = torch.full((len(users),), min(count, n))
        with torch.no_grad():
            return model.full_sort_predict({model.ITEM_SEQ: seqs, model.ITEM_SEQ_LEN: lengths})

    users = list(histories)
    for count in range(1, n + 5):
        items = [histories[user][count - 1] for user in users]
        stream.update_many(users, [str(token) for token in dataset.id2token(dataset.iid_field, items)])
        torch.testing.assert_close(stream.full_scores(users), expected(users, count), rtol=1e-9, atol=1e-9)
        if count == n - 2:  # mid-window: the recurrent states themselves go through the file
            stream.save(tmp_path / "stream.pt")
            restarted = StreamingRecommender(model, dataset)
            restarted.load(tmp_path / "stream.pt")
            torch.testing.assert_close(restarted.full_scores(users), stream.full_scores(users), rtol=0, atol=0)
            torch.testing.assert_close(restarted._S, stream._S[: len(users)], rtol=0, atol=0)


def test_streaming_refuses_softmax(data_folder):
    model, dataset = tiny_model(data_folder, "softmax")
    assert not model.recurrent
    with pytest.raises(ValueError, match="recurrent token mixer.*'softmax'"):
        StreamingRecommender(model, dataset)
    with pytest.raises(ValueError, match="'softmax' has no recurrent step"):
        model.initial_state(1)


@pytest.mark.parametrize(
    "name, bidirectional", [(name, False) for name in NAMES] + [("linrec", True)], ids=lambda value: str(value)
)
def test_one_epoch_trains_to_finite_loss_and_valid_metrics(workdir, data_folder, name, bidirectional, monkeypatch):
    losses, mixers = [], set()
    calculate_loss = HydraRec.calculate_loss

    def recorded(self, interaction):
        loss = calculate_loss(self, interaction)
        losses.append(float(loss.detach()))
        mixers.update(layer.attention.name for layer in self.layers)
        return loss

    monkeypatch.setattr(HydraRec, "calculate_loss", recorded)
    settings = overrides(data_folder, attention=name, n_heads=H, bidirectional=bidirectional, train_batch_size=32)
    result = train_and_test(build_config("HydraRec", "syn", overrides=settings), saved=False)
    assert mixers == {name} and result.epochs_run == 1
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert set(result.test_result) == {"hit@5", "ndcg@5"}
    assert all(0.0 <= value <= 1.0 for value in result.test_result.values())


def test_real_positions_only_on_cpu():
    """Off the CPU (here: the meta device, which has no data) the function sees every position."""
    from recbole_hydra.model.mixers.token_mixer import on_real_positions

    mask = torch.tensor([[True, False], [True, True]])
    seen = []

    def double(rows):
        seen.append(rows.shape)
        return rows * 2

    outputs = [
        on_real_positions(double, mask.to(device), torch.ones(2, 2, 3, device=device)) for device in ("cpu", "meta")
    ]
    assert seen == [(3, 3), (2, 2, 3)]  # the CPU's 3 real rows; every position on the meta device
    torch.testing.assert_close(outputs[0], 2 * mask.unsqueeze(-1).expand(2, 2, 3).float())  # zeros at padding
    assert outputs[1].shape == (2, 2, 3) and outputs[1].device.type == "meta"
