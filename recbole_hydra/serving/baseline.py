"""The recompute baseline: per user only the last N item ids, re-encoded by the model's `forward` at
each recommendation (O(N) per request), as a service without a recurrent state must do.

It serves any causal HydraRec, the softmax control included, behind the same store and HTTP
interface as StreamingRecommender (`serve --recompute`), so that the load benchmark compares the
two states and nothing else. Encodings are cached until the user's next event, so a request
pays for one re-encode, never more. Not thread-safe (the engine's worker alone calls it).

Shapes: B users in a batch, N = MAX_ITEM_LIST_LENGTH, D hidden size, I item ids (0 = padding).
"""

import numpy as np
import torch

from recbole_hydra.online.streaming import Recommendations, SeenItems


class WindowRecommender:
    def __init__(self, model, dataset):
        if getattr(model, "bidirectional", None) is not False:
            raise ValueError("the recompute baseline needs a causal HydraRec (bidirectional: False)")
        self.model = model.eval()
        self.dataset = dataset
        self.max_length = model.max_seq_length  # N
        self._windows = {}  # user → list of its last ≤ N item ids
        self._length = {}  # user → events so far
        self._seen = {}  # user → SeenItems
        self._encoded = {}  # user → (D,) the window's encoding, until the next event

    def __len__(self):
        return len(self._windows)

    def __contains__(self, user):
        return str(user) in self._windows

    def length(self, user):
        return self._length[str(user)]

    def _item_id(self, item):
        item_id = self.dataset.field2token_id[self.dataset.iid_field].get(str(item))
        if not item_id:
            raise KeyError(f"unknown item {str(item)!r}")
        return item_id

    def update_many(self, users, items):
        ids = [self._item_id(item) for item in items]  # every item checked before any change
        for user, item_id in zip(map(str, users), ids):
            window = self._windows.setdefault(user, [])
            window.append(item_id)
            del window[: -self.max_length]
            self._length[user] = self._length.get(user, 0) + 1
            self._seen.setdefault(user, SeenItems()).add(item_id)
            self._encoded.pop(user, None)

    def replay(self, users, histories):
        histories = [[self._item_id(item) for item in history] for history in histories]
        for user, ids in zip(map(str, users), histories):
            self._windows[user] = ids[-self.max_length :]
            self._length[user] = len(ids)
            self._seen[user] = SeenItems(ids)
            self._encoded.pop(user, None)

    @torch.no_grad()
    def _encode(self, users):
        """(B, D): each user's window through `forward`, the stale ones in one padded batch."""
        stale = [user for user in users if user not in self._encoded]
        if stale:
            lengths = torch.tensor([len(self._windows[user]) for user in stale])
            padded = torch.zeros(len(stale), int(lengths.max()), dtype=torch.long)  # (B, ≤ N), padding on the right
            for row, user in enumerate(stale):
                padded[row, : lengths[row]] = torch.tensor(self._windows[user])
            for user, encoded in zip(stale, self.model.forward(padded, lengths)):
                self._encoded[user] = encoded
        return torch.stack([self._encoded[user] for user in users])

    @torch.no_grad()
    def recommend_many(self, users, k=10, exclude_seen=True):
        users = [str(user) for user in users]
        scores = self._encode(users) @ self.model.item_embedding.weight[: self.model.n_items].T  # (B, I)
        scores[:, 0] = float("-inf")  # padding
        if exclude_seen:
            for row, user in enumerate(users):
                scores[row, torch.from_numpy(np.asarray(self._seen[user].array()))] = float("-inf")
        top_scores, top_ids = scores.topk(min(k, scores.size(1)), dim=1)
        id2token = self.dataset.field2id_token[self.dataset.iid_field]
        results = []
        for row_scores, row_ids in zip(top_scores.tolist(), top_ids.tolist()):
            kept = [(i, s) for i, s in zip(row_ids, row_scores) if s != float("-inf")]
            results.append(Recommendations([str(id2token[i]) for i, _ in kept], [s for _, s in kept]))
        return results
