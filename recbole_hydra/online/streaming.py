"""A trained causal HydraRec as a recurrent model: O(1) per-user state updates for online use.

Causal Hydra attention at position t mixes with S_t = Σ_{s≤t} φ(k_s) ⊙ v_s, a running D-vector.
So each user's state is, per layer, one D-vector S, plus the number of items so far (the next
position). A new item is encoded by the model's own recurrent step, `HydraRec.step`, from the
previous S of each layer alone:

    x = LayerNorm(item_emb[i] + position_emb[t])
    per layer:  q, k, v = qkv(x);  S += φ(k) ⊙ v;  x = LN(x + W_o(φ(q) ⊙ S) + local);  x = FeedForward(x)
    h = x;  scores = h @ item_emb[:I]ᵀ

(`local`: the causal local term, a per-feature weighted sum of x and the layer's last
`local_window` inputs, which the state keeps beside S; absent with `local_window: 0`.)

That costs O(L·D²) per update, whatever the history length, and equals `full_sort_predict` on
the same history (to float tolerance) while the history is no longer than N = MAX_ITEM_LIST_LENGTH.
The linrec and elu mixers stream the same way, with a larger state per layer (one d × (d + 1)
matrix per head; see model/mixers/); softmax attention has no recurrent form and is refused.

Past N, RecBole keeps only the last N items, at positions 0..N-1: every new item shifts every
position, so no running sum can continue. To stay exact we keep each user's last N item ids
and re-encode that window with the model's own `forward` at every update (O(N·L·D²): still
linear, and what RecBole would score). S is then no longer used. A lifelong model (`positions:
capped` or `off`, `HydraRec.lifelong`) has no such shift: its state goes on past N with the
same O(1) step, and covers the whole history, not RecBole's last N.

Shapes: U users held, L layers, D hidden size, N = MAX_ITEM_LIST_LENGTH, I item ids (0 = padding);
(...) a layer's state shape: (D,) for hydra, (H, D / H, D / H + 1) for linrec and elu; with a
causal local term (`local_window` W), the mixer's flattened and the layer's last W inputs after it.
"""

import hashlib
import os
from typing import List, NamedTuple

import numpy as np
import torch

from recbole_hydra.files import open_atomically
from recbole_hydra.online import catalogue

STATE_FORMAT = 1  # bump when the state_dict layout changes ("S" is (U, L, ...): hydra's files stay (U, L, D))


class Recommendations(NamedTuple):
    items: List[str]  # item tokens, best first
    scores: List[float]


class SeenItems:
    """One user's distinct item ids in arrival order: a set to test, a numpy buffer to mask with."""

    __slots__ = ("ids", "buffer", "count")

    def __init__(self, item_ids=()):
        self.ids = set()
        self.buffer = np.empty(max(8, len(item_ids)), dtype=np.int64)
        self.count = 0
        for item_id in item_ids:
            self.add(item_id)

    def add(self, item_id):
        if item_id in self.ids:
            return
        self.ids.add(item_id)
        if self.count == len(self.buffer):  # doubling: amortised O(1)
            self.buffer = np.concatenate([self.buffer, np.empty_like(self.buffer)])
        self.buffer[self.count] = item_id
        self.count += 1

    def array(self):
        return self.buffer[: self.count]


class StreamingRecommender:
    """Per-user recurrent states over a trained causal HydraRec and its RecBole dataset.

    Users and items are the tokens of the atomic files (`str(token)` is used, so 196 and "196"
    are the same). The model is put in eval mode: dropout would break the equality with
    `full_sort_predict`. Not thread-safe.

        config, model, dataset, *_ = load_data_and_model("saved/HydraRec-....pth")
        stream = StreamingRecommender(model, dataset)
        stream.update("196", "242")
        stream.recommend("196", k=10)   # Recommendations(items=[...], scores=[...])
    """

    def __init__(self, model, dataset):
        if not hasattr(model, "bidirectional") or not hasattr(model, "layers"):
            raise TypeError(f"StreamingRecommender needs a HydraRec model, got {type(model).__name__}")
        if model.bidirectional:
            raise ValueError(
                "StreamingRecommender needs a causal HydraRec (bidirectional: False): a bidirectional "
                "model lets every position see later items, so a new item changes all earlier outputs "
                "and no running state exists"
            )
        if not model.recurrent:
            raise ValueError(
                f"StreamingRecommender needs a recurrent token mixer, but this HydraRec has attention "
                f"'{model.attention_name}', which has none (its state would be every past key and value); "
                "expected attention hydra, linrec or elu"
            )
        self.model = model.eval()
        self.dataset = dataset
        self.max_length = model.max_seq_length  # N
        self.device = model.item_embedding.weight.device
        # Accumulate in at least fp32, as hydra_kernels' cumsum does.
        self._state_dtype = torch.promote_types(model.item_embedding.weight.dtype, torch.float32)
        self._rows = {}  # user token → row
        self._users = []  # row → user token
        self._seen = []  # row → SeenItems: every item id the user has interacted with
        self._added_tokens = []  # items added to the catalogue through this recommender
        self._allocate(0)

    # ----- state storage -------------------------------------------------------------

    def _allocate(self, capacity):
        m = self.model
        # The model's own empty state, one row per user, its L layers stacked: (U, L, ...).
        self._S = torch.stack(m.initial_state(capacity), dim=1).to(self._state_dtype)
        self._h = torch.zeros(
            capacity, m.hidden_size, dtype=m.item_embedding.weight.dtype, device=self.device
        )  # (U, D)
        self._length = torch.zeros(capacity, dtype=torch.long, device=self.device)  # (U,) events so far
        self._window = torch.zeros(capacity, self.max_length, dtype=torch.long, device=self.device)  # (U, N)

    def _ensure_capacity(self, needed):
        capacity = self._length.size(0)
        if needed <= capacity:
            return
        old = (self._S, self._h, self._length, self._window)
        self._allocate(max(needed, 2 * capacity, 16))  # doubling: amortised O(1) per new user
        for new, kept in zip((self._S, self._h, self._length, self._window), old):
            new[:capacity] = kept

    def _row_of(self, user, create):
        token = str(user)
        row = self._rows.get(token)
        if row is None:
            if not create:
                raise KeyError(f"unknown user {token!r}: no interaction was streamed for this user yet")
            row = len(self._users)
            self._ensure_capacity(row + 1)
            self._rows[token] = row
            self._users.append(token)
            self._seen.append(SeenItems())
        return row

    def _item_id(self, item):
        token = str(item)
        item_id = self.dataset.field2token_id[self.dataset.iid_field].get(token)
        if item_id is None or item_id == 0:
            raise KeyError(
                f"unknown item {token!r}: not in the catalogue of field '{self.dataset.iid_field}' "
                f"({self.model.n_items - 1} items); add new items first with add_items([{token!r}])"
            )
        return item_id

    @property
    def users(self):
        """Tokens of the users that have a state, in the order they arrived."""
        return list(self._users)

    def __len__(self):
        return len(self._users)

    def __contains__(self, user):
        return str(user) in self._rows

    def length(self, user):
        """How many items were streamed for `user` (the full history, not only the window)."""
        return int(self._length[self._row_of(user, create=False)])

    def history(self, user):
        """The last min(length, N) item tokens of `user`, oldest first: the window the model sees
        (a lifelong model's state covers the whole history)."""
        row = self._row_of(user, create=False)
        kept = min(int(self._length[row]), self.max_length)
        ids = self._window[row, :kept].tolist()
        return [str(token) for token in self.dataset.field2id_token[self.dataset.iid_field][ids]]

    # ----- updates -------------------------------------------------------------------

    def update(self, user, item):
        """Append `item` to `user`'s history (a new user starts empty)."""
        self._check_eval()
        item_id = self._item_id(item)
        row = self._row_of(user, create=True)
        self._step(torch.tensor([row], device=self.device), torch.tensor([item_id], device=self.device))
        self._seen[row].add(item_id)

    def update_many(self, users, items):
        """Append items[j] to users[j]'s history, in order (a user may appear several times).

        All item tokens are checked before any state changes.
        """
        self._check_eval()
        users, items = list(users), list(items)
        if len(users) != len(items):
            raise ValueError(f"users and items must have the same length, got {len(users)} and {len(items)}")
        item_ids = [self._item_id(item) for item in items]
        rows = [self._row_of(user, create=True) for user in users]
        # Round r holds the r-th event of each user, so every round touches distinct rows.
        rounds, count = [], {}
        for row, item_id in zip(rows, item_ids):
            rank = count.get(row, 0)
            count[row] = rank + 1
            if rank == len(rounds):
                rounds.append(([], []))
            rounds[rank][0].append(row)
            rounds[rank][1].append(item_id)
        for round_rows, round_items in rounds:
            self._step(torch.tensor(round_rows, device=self.device), torch.tensor(round_items, device=self.device))
            for row, item_id in zip(round_rows, round_items):
                self._seen[row].add(item_id)

    def _check_eval(self):
        if self.model.training:
            raise RuntimeError("the model is in training mode (dropout on): call model.eval() before streaming")

    @torch.no_grad()
    def _step(self, rows, items):
        """One new item for each of distinct `rows` (B,), item ids `items` (B,)."""
        if self.model.lifelong:  # the state goes on past N: always the O(1) path
            self._advance(rows, items)
            return
        short = self._length[rows] < self.max_length  # (B,) still within the window: O(1) path
        if short.all():
            self._advance(rows, items)
            return
        if short.any():
            self._advance(rows[short], items[short])
        self._slide(rows[~short], items[~short])

    def _advance(self, rows, items):
        """The recurrence: encode position t of each row from its layers' previous states."""
        t = self._length[rows]  # (B,) the new item's position
        h, states = self.model.step(items, t, list(self._S[rows].unbind(1)))  # (B, D), L × (B, ...)
        self._S[rows] = torch.stack(states, dim=1)
        self._h[rows] = h
        within = t < self.max_length  # (B,) past N only a lifelong model advances; its window slides
        self._window[rows[within], t[within]] = items[within]
        if not within.all():
            past = rows[~within]
            self._window[past] = torch.cat([self._window[past, 1:], items[~within].unsqueeze(1)], dim=1)
        self._length[rows] = t + 1

    def _slide(self, rows, items):
        """Past N: drop the oldest item, re-encode the window as RecBole would (positions 0..N-1)."""
        window = torch.cat([self._window[rows, 1:], items.unsqueeze(1)], dim=1)  # (B, N)
        self._window[rows] = window
        self._length[rows] += 1
        full = torch.full((rows.size(0),), self.max_length, dtype=torch.long, device=self.device)
        self._h[rows] = self.model.forward(window, full)  # (B, D)

    @torch.no_grad()
    def replay(self, users, histories):
        """Set each user's state to that of streaming `histories[j]` (item tokens, oldest first) from
        empty, replacing any state they had; batched over users, one position at a time.

        What a service does with a user's event log after a restart or for a new model. Past N a
        windowed model replays only the last N items, which is all RecBole encodes (and what
        `update` would reach); a lifelong model replays them all. Every item is checked first.
        """
        self._check_eval()
        users, histories = list(users), [list(history) for history in histories]
        if len(users) != len(histories):
            raise ValueError(f"users and histories must have the same length, got {len(users)} and {len(histories)}")
        ids = [[self._item_id(item) for item in history] for history in histories]
        rows = [self._row_of(user, create=True) for user in users]
        if len(set(rows)) != len(rows):
            raise ValueError("replay needs distinct users")
        lengths = torch.tensor([len(history) for history in ids], dtype=torch.long)
        kept = ids if self.model.lifelong else [history[-self.max_length :] for history in ids]
        width = max((len(history) for history in kept), default=0)
        padded = torch.zeros(len(rows), width, dtype=torch.long)  # (U, T) items to step through
        for j, history in enumerate(kept):
            padded[j, : len(history)] = torch.tensor(history, dtype=torch.long)
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self._S[index] = torch.stack(self.model.initial_state(len(rows)), dim=1).to(self._S)
        self._h[index] = 0
        self._length[index] = 0
        self._window[index] = 0
        counts = torch.tensor([len(history) for history in kept], dtype=torch.long)
        for position in range(width):
            active = (counts > position).nonzero().squeeze(1)
            self._advance(index[active.to(self.device)], padded[active, position].to(self.device))
        self._length[index] = lengths.to(self.device)  # a windowed model past N: the window, and the count
        for row, history in zip(rows, ids):
            self._seen[row] = SeenItems(history)

    # ----- recommendations -----------------------------------------------------------

    def _catalogue(self):
        return self.model.item_embedding.weight[: self.model.n_items]  # (I, D); causal: no output bias

    @torch.no_grad()
    def full_scores(self, users):
        """(B, I) scores of every item id (column 0 is padding), laid out as full_sort_predict's."""
        self._check_eval()
        rows = torch.tensor([self._row_of(user, create=False) for user in users], device=self.device)
        return self._h[rows] @ self._catalogue().T

    def recommend(self, user, k=10, exclude_seen=True):
        """The top-k item tokens for `user` and their scores; never the padding id."""
        return self.recommend_many([user], k, exclude_seen)[0]

    def recommend_many(self, users, k=10, exclude_seen=True):
        """recommend() for a batch of users in one matrix product: a list of Recommendations."""
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        users = list(users)
        if not users:
            return []
        scores = self.full_scores(users)  # (B, I)
        scores[:, 0] = float("-inf")  # padding
        if exclude_seen:
            seen = [self._seen[self._rows[str(user)]].array() for user in users]
            counts = torch.tensor([len(ids) for ids in seen], device=self.device)
            batch_index = torch.repeat_interleave(torch.arange(len(users), device=self.device), counts)
            item_index = torch.from_numpy(np.concatenate(seen)).to(self.device)
            scores[batch_index, item_index] = float("-inf")
        top_scores, top_ids = scores.topk(min(k, scores.size(1)), dim=1)  # (B, k)
        id2token = self.dataset.field2id_token[self.dataset.iid_field]
        results = []
        for row_scores, row_ids in zip(top_scores.tolist(), top_ids.tolist()):
            kept = [(item_id, score) for item_id, score in zip(row_ids, row_scores) if score != float("-inf")]
            results.append(Recommendations([str(id2token[i]) for i, _ in kept], [score for _, score in kept]))
        return results

    # ----- catalogue growth ----------------------------------------------------------

    def add_items(self, tokens, init="mean", generator=None):
        """Add new item tokens to the model and dataset (see catalogue.add_items); returns their ids.

        Old items keep their ids and rows, so existing users' states and scores are unchanged.
        The new rows are saved with the states, so they survive a restart.
        """
        ids = catalogue.add_items(self.model, self.dataset, tokens, init=init, generator=generator)
        self._added_tokens += [str(token) for token in tokens]
        return ids

    # ----- persistence ---------------------------------------------------------------

    def fingerprint(self):
        """sha256 of the model's weights: states saved with other weights must be recomputed."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def state_dict(self):
        """Every user's state as plain tensors, lists and strings (loadable with weights_only=True)."""
        n_users = len(self._users)
        seen = [items.array() for items in self._seen]
        item_tokens = self.dataset.field2id_token[self.dataset.iid_field]
        item_ids = self.dataset.field2token_id[self.dataset.iid_field]
        added_ids = [item_ids[token] for token in self._added_tokens]
        return {
            "format": STATE_FORMAT,
            "max_length": self.max_length,
            "fingerprint": self.fingerprint(),
            "item_tokens": [str(token) for token in item_tokens],  # id → token, to remap on load
            "added_tokens": list(self._added_tokens),
            "added_embeddings": self.model.item_embedding.weight[added_ids].detach().cpu().clone(),  # (M, D)
            "users": list(self._users),
            "length": self._length[:n_users].cpu().clone(),  # (U,)
            "window": self._window[:n_users].cpu().clone(),  # (U, N) item ids
            "S": self._S[:n_users].cpu().clone(),  # (U, L, ...)
            "h": self._h[:n_users].cpu().clone(),  # (U, D)
            "seen_items": torch.from_numpy(np.concatenate([np.empty(0, np.int64)] + seen)),  # arrival order
            "seen_offsets": torch.tensor([0] + [len(items) for items in seen], dtype=torch.long).cumsum(0),
        }

    def load_state_dict(self, state):
        """Replace all users' states with `state` (from state_dict()).

        Items added to the catalogue before saving are added again if missing. Item ids are
        matched by token, so the states also load into a model built on a remapped dataset. If
        the model's weights differ from the ones the states were computed with (fine-tuned, say),
        the states are recomputed from each user's window: exactly, as RecBole would score.
        """
        _check_state(state, self.max_length)
        known = self.dataset.field2token_id[self.dataset.iid_field]
        missing = [i for i, token in enumerate(state["added_tokens"]) if token not in known]
        start = self.model.n_items  # where the missing added items will land
        will_know = {**known, **{state["added_tokens"][i]: start + j for j, i in enumerate(missing)}}

        # Check every saved item against the catalogue before anything changes.
        remap = torch.tensor([will_know.get(token, -1) for token in state["item_tokens"]], dtype=torch.long)
        remap[0] = 0  # padding stays padding
        window, seen_items = remap[state["window"]], remap[state["seen_items"]]
        if (window < 0).any() or (seen_items < 0).any():
            used = torch.cat([state["window"][window < 0], state["seen_items"][seen_items < 0]]).unique().tolist()
            names = [state["item_tokens"][i] for i in used[:10]]
            raise ValueError(f"saved states use items this model's catalogue lacks: {names}")

        if missing:
            catalogue.add_items(
                self.model,
                self.dataset,
                [state["added_tokens"][i] for i in missing],
                embeddings=state["added_embeddings"][missing],
            )
        added = list(self._added_tokens) + [t for t in state["added_tokens"] if t not in self._added_tokens]

        n_users = len(state["users"])
        self._rows = {user: row for row, user in enumerate(state["users"])}
        self._users = list(state["users"])
        self._added_tokens = added
        offsets = state["seen_offsets"].tolist()
        self._seen = [SeenItems(seen_items[offsets[row] : offsets[row + 1]].tolist()) for row in range(n_users)]
        self._allocate(n_users)
        self._length[:] = state["length"].to(self.device)
        self._window[:] = window.to(self.device)
        if state["fingerprint"] == self.fingerprint():  # the same weights, so the same mixer and state shape
            self._S[:] = state["S"].to(self.device, self._state_dtype)
            self._h[:] = state["h"].to(self.device, self._h.dtype)
        else:
            self._recompute_all()

    @torch.no_grad()
    def _recompute_all(self):
        """Every state from its window alone, by replaying it position by position, batched over users.

        Exact: within N the window is the whole history; past N it is all RecBole encodes, at
        positions 0..N-1, which is what replaying it from an empty state computes.
        """
        self._check_eval()
        lengths = self._length.clone()
        if self.model.lifelong and bool((lengths > self.max_length).any()):
            raise ValueError(
                f"a lifelong model's state past N={self.max_length} events covers the whole history, which the "
                "saved windows do not hold: replay each user's full history instead (replay(users, histories))"
            )
        self._S.zero_()
        self._length.zero_()
        window = self._window.clone()
        for position in range(min(int(lengths.max()) if len(lengths) else 0, self.max_length)):
            rows = (lengths > position).nonzero().squeeze(1)
            self._advance(rows, window[rows, position])
        self._length[:] = lengths

    def save(self, path):
        """Write the states to `path` atomically: a crash mid-write leaves the old file intact."""
        with open_atomically(os.fspath(path), "wb") as f:
            torch.save(self.state_dict(), f)

    def load(self, path):
        """Load states saved by save(); tensors and strings only, so torch's weights_only load is used."""
        try:
            state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as error:
            raise ValueError(f"{path}: not a StreamingRecommender state file ({error})") from None
        try:
            self.load_state_dict(state)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


_STATE_KEYS = (
    "format",
    "max_length",
    "fingerprint",
    "item_tokens",
    "added_tokens",
    "added_embeddings",
    "users",
    "length",
    "window",
    "S",
    "h",
    "seen_items",
    "seen_offsets",
)


def _check_state(state, max_length):
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"expected a StreamingRecommender state of format {STATE_FORMAT}, got format {got!r}")
    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"state lacks keys {missing}")
    if state["max_length"] != max_length:
        raise ValueError(
            f"states were kept with MAX_ITEM_LIST_LENGTH={state['max_length']}, this model has {max_length}: "
            "the windows do not match"
        )
    n_users = len(state["users"])
    shapes_ok = state["length"].shape == (n_users,) and state["window"].shape == (n_users, max_length)
    if not shapes_ok or state["S"].shape[:1] != (n_users,):
        raise ValueError(f"state tensors do not match its {n_users} users")
