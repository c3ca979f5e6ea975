"""HydraRec: a SASRec/BERT4Rec-shaped sequential recommender with Hydra attention.

The token mixer is a setting (`attention`: hydra, softmax, linrec or elu; see model/mixers/):
embeddings, layers, feed-forward blocks, head, losses and training are the same for all of them.

Causal mode (default) is SASRec with Hydra attention: next-item training. Bidirectional mode
(`bidirectional: True`) is BERT4Rec with Hydra attention: Cloze training on RecBole's
`mask_itemseq` transform, prediction at a mask token appended after the history.

What a training row is depends on `train_scheme` (runtime/train_scheme.py builds the rows):
`sequence` rows are windows of a user's history, with a next-item target at every position in
causal mode (one pass supervises up to N targets); `prefix` rows are RecBole's, one history and
its one next item each. Validation and test rows are RecBole's in both.

Shapes: B batch, N = MAX_ITEM_LIST_LENGTH, D = hidden_size, I = n_items (padding 0 included),
M = masked positions per sequence.
"""

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.loss import BPRLoss
from torch import nn

from recbole_hydra.model.config_checks import check_model_config
from recbole_hydra.model.dropout import Dropout
from recbole_hydra.model.layer import HydraLayer
from recbole_hydra.model.losses import cross_entropy


def target_sequence_field(config):
    """The field of a causal training window that holds each position's target item (0: none)."""
    return "Target_" + config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]


def trim_padding(item_seq, *aligned):
    """item_seq (B, N) and tensors aligned with it, cut after the last column any row reaches.

    Rows are right-padded and positions count from the left, so the outputs at real positions do
    not change (padding is masked in every mixer), and batches of short histories stop paying for
    N positions: with windows of sparse data most columns are padding.
    """
    reached = (item_seq != 0).any(dim=0).nonzero()  # (W, 1) columns holding an item
    width = int(reached.max()) + 1 if len(reached) else 1
    return [tensor[:, :width] for tensor in (item_seq, *aligned)]


class HydraRec(SequentialRecommender):
    r"""HydraRec (arXiv 2501.01242): linear-time attention for sequential recommendation."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        hp = check_model_config(config)
        self.hidden_size = hp["hidden_size"]
        self.bidirectional = hp["bidirectional"]
        self.loss_type = hp["loss_type"]
        self.initializer_range = hp["initializer_range"]
        self.loss_max_logits = hp["loss_max_logits"]
        self.attention_name = hp["attention"]
        self.TARGET_ITEM_SEQ = target_sequence_field(config)

        # Bidirectional mode adds the mask token, id I, exactly as RecBole's transform writes it.
        self.mask_token = self.n_items
        n_embeddings = self.n_items + 1 if self.bidirectional else self.n_items
        self.item_embedding = nn.Embedding(n_embeddings, self.hidden_size, padding_idx=0)
        # 'off' has no table, so its checkpoints hold none; 'capped' has the same table as 'absolute'.
        self.positions = hp["positions"]
        if self.positions != "off":
            self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=hp["layer_norm_eps"])
        self.dropout = Dropout(hp["hidden_dropout_prob"])
        self.layers = nn.ModuleList(
            HydraLayer(
                self.hidden_size,
                hp["inner_size"],
                causal=not self.bidirectional,
                hidden_dropout=hp["hidden_dropout_prob"],
                attn_dropout=hp["attn_dropout_prob"],
                hidden_act=hp["hidden_act"],
                eps=hp["layer_norm_eps"],
                compile=hp["compile"],
                attention=hp["attention"],
                n_heads=hp["n_heads"],
                local_window=hp["local_window"],
                hydra_mean=hp["hydra_mean"],
            )
            for _ in range(hp["n_layers"])
        )

        if self.bidirectional:
            # BERT4Rec's prediction head and per-item output bias.
            self.output_head = nn.Sequential(
                nn.Linear(self.hidden_size, self.hidden_size),
                nn.GELU(),
                nn.LayerNorm(self.hidden_size, eps=hp["layer_norm_eps"]),
            )
            self.output_bias = nn.Parameter(torch.zeros(self.n_items))
            # Field names set by RecBole's MaskItemSequence transform.
            self.MASK_ITEM_SEQ = config["MASK_ITEM_SEQ"]
            self.POS_ITEMS = config["POS_ITEMS"]
            self.NEG_ITEMS = config["NEG_ITEMS"]
            self.MASK_INDEX = config["MASK_INDEX"]
        if self.loss_type == "BPR":
            self.bpr_loss = BPRLoss()

        self.apply(self._init_weights)

    @staticmethod
    def check_config(config):
        """Every setting the model reads, checked with a message naming the key; returns them as a dict.

        recbole-hydra calls it as soon as a Config for HydraRec is built, before RecBole reads data
        (with the checks of the run's keys: runtime/train_scheme.py, runtime/run_checks.py).
        """
        return check_model_config(config)

    def _init_weights(self, module):
        """Same initialisation as RecBole's SASRec and BERT4Rec."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    # ----- encoder -----------------------------------------------------------------

    def embed(self, item_seq):
        """The layers' input: item + position embeddings, LayerNorm, dropout. (B, N) → (B, N, D)."""
        positions = torch.arange(item_seq.size(1), device=item_seq.device)  # (N,)
        x = self.with_positions(self.item_embedding(item_seq), positions)  # (B, N, D)
        return self.dropout(self.LayerNorm(x))

    def encode(self, item_seq, index=None):
        """item_seq: (B, N) item ids, 0 = padding on the right. Returns (B, N, D).

        With `index` (B, M), returns only those positions, (B, M, D), and the last layer computes
        nothing else: the losses and the scores read one position per sequence (M masked ones in
        Cloze training), so the last layer's output projection, norms and feed-forward at the
        other N − M positions would be thrown away. Earlier layers run everywhere (every position's
        key and value feed the last layer).
        """
        x = self.embed(item_seq)  # (B, N, D)
        mask = item_seq != 0  # (B, N)
        last = len(self.layers) - 1
        for depth, layer in enumerate(self.layers):
            x = layer(x, mask, index if depth == last else None)  # (B, N, D); (B, M, D) after the last
        if self.bidirectional:
            x = self.output_head(x)
        return x

    def with_positions(self, x, positions):
        """x (..., D) plus the embedding of each event's position (...,), as `positions` says.

        'capped' reads position min(t, N - 1), so sequences longer than N (a stream past N) have
        one; within N it is 'absolute' exactly. 'off' adds nothing.
        """
        if self.positions == "off":
            return x
        if self.positions == "capped":
            positions = positions.clamp(max=self.max_seq_length - 1)
        return x + self.position_embedding(positions)

    @property
    def lifelong(self):
        """Whether the causal state may go on past N events: positions 'capped' or 'off' (O(1) per
        event at any length); 'absolute' positions shift once a history passes N."""
        return self.positions != "absolute"

    def append_mask_token(self, item_seq, item_seq_len):
        """Put the mask token right after each history: (B, N) → (B, N) and its index (B,).

        A full history drops its oldest item to make room, like RecBole's BERT4Rec; a shorter
        one keeps all its items (RecBole's BERT4Rec drops the first item of every history).
        """
        full = item_seq_len >= item_seq.size(1)  # (B,)
        shifted = torch.where(full.unsqueeze(1), item_seq.roll(-1, dims=1), item_seq)
        mask_index = torch.where(full, item_seq.size(1) - 1, item_seq_len)  # (B,)
        masked = shifted.scatter(1, mask_index.unsqueeze(1), self.mask_token)
        return masked, mask_index

    def forward(self, item_seq, item_seq_len):
        """The representation that scores the next item: (B, N), (B,) → (B, D)."""
        # Only the columns some history reaches (one more for the mask token): see trim_padding.
        width = int(item_seq_len.max()) + int(self.bidirectional) if len(item_seq_len) else 1
        item_seq = item_seq[:, : max(1, min(width, item_seq.size(1)))]
        if self.bidirectional:
            item_seq, target_index = self.append_mask_token(item_seq, item_seq_len)
        else:
            target_index = item_seq_len - 1
        return self.encode(item_seq, target_index.unsqueeze(1)).squeeze(1)  # (B, D)

    # ----- the recurrent form (causal mode) -------------------------------------------

    @property
    def recurrent(self):
        """Whether `step` exists: a causal model whose token mixer has a recurrent form (not softmax)."""
        return not self.bidirectional and all(layer.attention.recurrent for layer in self.layers)

    def initial_state(self, batch_size):
        """Per layer, the empty recurrent state of `step`: a list of L tensors (B, ...), the same
        shape in every layer ((B, D) for hydra, (B, H, d, d + 1) for linrec and elu; with the
        local term, the mixer's flattened and the layer's last W inputs after it, (B, ... + W·D))."""
        return [layer.initial_state(batch_size) for layer in self.layers]

    def step(self, items, positions, states):
        """Encode one new item per sequence from the previous states alone (causal mode only).

        items, positions: (B,) the new item ids and their positions t; states: from
        `initial_state` (t = 0) or the previous step. Returns (representation (B, D), new states):
        the representation equals `encode(...)[:, t]` over the whole sequence, at a cost that does
        not grow with t (O(L·D²) for hydra, O(L·D·d) for linrec and elu, d = D / n_heads).
        """
        if self.bidirectional:
            raise ValueError("step needs a causal HydraRec: a bidirectional model sees later items")
        x = self.dropout(self.LayerNorm(self.with_positions(self.item_embedding(items), positions)))  # (B, D)
        new_states = []
        for layer, state in zip(self.layers, states):
            x, state = layer.step(x, state)
            new_states.append(state)
        return x, new_states

    # ----- scoring -----------------------------------------------------------------

    def _catalogue_embeddings(self):
        """(I, D): every real item id's embedding (the mask token is no candidate)."""
        return self.item_embedding.weight[: self.n_items]

    def _score(self, seq_output, item_emb, items=None):
        """Dot-product scores, plus BERT4Rec's output bias in bidirectional mode."""
        scores = (seq_output * item_emb).sum(-1) if items is not None else seq_output @ item_emb.T
        if self.bidirectional:
            scores = scores + (self.output_bias[items] if items is not None else self.output_bias)
        return scores

    def calculate_loss(self, interaction):
        if self.bidirectional:
            return self._cloze_loss(interaction)  # prefix rows or windows alike: the transform masks them
        if self.TARGET_ITEM_SEQ in interaction:
            return self._window_loss(interaction)
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])  # (B, D)
        negatives = interaction[self.NEG_ITEM_ID] if self.loss_type == "BPR" else None
        return self._loss(seq_output, interaction[self.POS_ITEM_ID], negatives)

    def _window_loss(self, interaction):
        """Causal windows: the next-item loss at every position that has a target, in one pass."""
        item_seq, targets = trim_padding(interaction[self.ITEM_SEQ], interaction[self.TARGET_ITEM_SEQ])
        output = self.encode(item_seq)  # (B, N, D): position t sees positions ≤ t; targets (B, N), 0 where none
        real = targets > 0  # (B, N)
        output, targets = output[real], targets[real]  # (R, D), (R,)
        negatives = None
        if self.loss_type == "BPR":  # one uniform negative per position (RecBole samples one per row)
            negatives = torch.randint(1, self.n_items, targets.shape, device=targets.device)
        return self._loss(output, targets, negatives)

    def _loss(self, output, pos_items, neg_items=None):
        """Next-item loss of representations (R, D) against their targets (R,): CE over the whole
        catalogue, or BPR against one sampled negative each (R,)."""
        if self.loss_type == "BPR":
            pos = self._score(output, self.item_embedding(pos_items), pos_items)
            neg = self._score(output, self.item_embedding(neg_items), neg_items)
            return self.bpr_loss(pos, neg)
        bias = self.output_bias if self.bidirectional else None
        return cross_entropy(output, self._catalogue_embeddings(), pos_items, bias, self.loss_max_logits)

    def _cloze_loss(self, interaction):
        (masked_seq,) = trim_padding(interaction[self.MASK_ITEM_SEQ])  # (B, N); masks stand at real positions
        masked_index = interaction[self.MASK_INDEX]  # (B, M), left-padded with 0
        pos_items = interaction[self.POS_ITEMS]  # (B, M), 0 where no mask
        masked_output = self.encode(masked_seq, masked_index)  # (B, M, D)
        # Real targets are the non-zero items (RecBole's `index > 0` would skip a mask at position 0).
        real = pos_items > 0  # (B, M)
        if not real.any():  # a batch where the transform masked nothing
            return masked_output.sum() * 0.0  # zero, still attached to the graph
        negatives = interaction[self.NEG_ITEMS][real] if self.loss_type == "BPR" else None
        return self._loss(masked_output[real], pos_items[real], negatives)  # (R, D), (R,)

    def predict(self, interaction):
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        items = interaction[self.ITEM_ID]  # (B,)
        return self._score(seq_output, self.item_embedding(items), items)  # (B,)

    def full_sort_predict(self, interaction):
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return self._score(seq_output, self._catalogue_embeddings())  # (B, I)
