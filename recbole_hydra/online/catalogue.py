"""Growing a trained causal HydraRec's item catalogue, and carrying weights over to new data.

Two ways for new items to enter a trained model:

* `add_items(model, dataset, tokens)`: in place, no training. Embedding rows are appended for
  the new tokens (old rows are copied unchanged, so every existing score stays the same) and
  the dataset's token maps learn the new tokens. The new items can then be streamed and
  recommended at once.
* `carry_over(old_model, old_dataset, new_model, new_dataset)`: into a fresh HydraRec built on a
  new dataset (RecBole remaps every token to a new id), the trained weights are copied by token;
  `fine_tune.fine_tune` then trains it with RecBole's trainer.

New rows are initialised with `init`:
  "mean"   the mean of the existing real items' embeddings (padding row excluded): a new item
           starts as an "average" item, neither favoured nor buried. All new items start equal.
  "normal" N(0, initializer_range²), RecBole's (and HydraRec's) initialisation of a fresh model.

Only the causal model is grown: the bidirectional one keeps its mask token at id I and a
per-item output bias, and it cannot be streamed anyway.
"""

import numpy as np
import torch
from torch import nn

INITS = ("mean", "normal")
PADDING_TOKEN = "[PAD]"  # RecBole's token for id 0


def _check_causal(model, action):
    if getattr(model, "bidirectional", None) is not False:
        raise ValueError(
            f"cannot {action}: this needs a causal HydraRec (bidirectional: False); "
            f"got {type(model).__name__} with bidirectional={getattr(model, 'bidirectional', None)!r}"
        )


def new_item_rows(model, count, init="mean", generator=None):
    """(count, D) initial embeddings for new items, as documented in the module docstring."""
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    weight = model.item_embedding.weight  # (I, D)
    if init == "mean":
        row = weight[1 : model.n_items].detach().mean(dim=0, keepdim=True)  # (1, D), padding excluded
        return row.expand(count, -1).clone()
    rows = torch.empty(count, weight.size(1), dtype=weight.dtype)
    rows.normal_(mean=0.0, std=model.initializer_range, generator=generator)
    return rows.to(weight.device)


def _grow_embedding(embedding, new_rows):
    """A new nn.Embedding: the old rows unchanged, then `new_rows` (M, D)."""
    old = embedding.weight  # (I, D)
    grown = nn.Embedding(old.size(0) + new_rows.size(0), old.size(1), padding_idx=embedding.padding_idx)
    grown = grown.to(device=old.device, dtype=old.dtype)
    with torch.no_grad():
        grown.weight[: old.size(0)] = old
        grown.weight[old.size(0) :] = new_rows.to(device=old.device, dtype=old.dtype)
    grown.weight.requires_grad_(old.requires_grad)
    return grown


def _learn_tokens(dataset, tokens):
    """Append `tokens` to the item token maps of `dataset` (and of every field sharing them)."""
    field = dataset.iid_field
    old_tokens = dataset.field2id_token[field]
    old_map = dataset.field2token_id[field]
    new_tokens = np.concatenate([old_tokens, np.array(tokens)])  # numpy widens '<U5' to fit longer tokens
    start = len(old_tokens)
    old_map.update({token: start + offset for offset, token in enumerate(tokens)})  # dict: shared in place
    # RecBole gives alias fields (alias_of_item_id) the same array object: keep them in step.
    for name, array in list(dataset.field2id_token.items()):
        if array is old_tokens:
            dataset.field2id_token[name] = new_tokens


def add_items(model, dataset, tokens, init="mean", embeddings=None, generator=None):
    """Add new item `tokens` to a trained causal HydraRec and its RecBole dataset, in place.

    Existing item ids, rows and scores do not change; the new tokens get ids I, I+1, ...
    `embeddings` (M, D), if given, are used instead of `init` (e.g. rows saved earlier).
    Returns the new ids. Raises ValueError naming any token that is already known or repeated.
    """
    _check_causal(model, "add items")
    tokens = [str(token) for token in tokens]
    known = dataset.field2token_id[dataset.iid_field]
    clashes = sorted({token for token in tokens if token in known or token == PADDING_TOKEN})
    if clashes:
        raise ValueError(f"item tokens already in the catalogue of field '{dataset.iid_field}': {clashes[:10]}")
    repeated = sorted({token for token in tokens if tokens.count(token) > 1})
    if repeated:
        raise ValueError(f"item tokens given more than once: {repeated[:10]}")
    if not tokens:
        return []
    if len(known) != model.n_items:
        raise ValueError(
            f"model and dataset disagree: the model has {model.n_items} item ids, the dataset's "
            f"field '{dataset.iid_field}' maps {len(known)} tokens"
        )
    if embeddings is None:
        rows = new_item_rows(model, len(tokens), init, generator)
    else:
        rows = torch.as_tensor(embeddings)
        if rows.shape != (len(tokens), model.hidden_size):
            raise ValueError(f"embeddings must have shape {(len(tokens), model.hidden_size)}, got {tuple(rows.shape)}")
    start = model.n_items
    model.item_embedding = _grow_embedding(model.item_embedding, rows)
    model.n_items = start + len(tokens)
    _learn_tokens(dataset, tokens)
    return list(range(start, model.n_items))


def carry_over(old_model, old_dataset, new_model, new_dataset, init="mean", generator=None):
    """Copy a trained causal HydraRec into a fresh one built on a dataset with another catalogue.

    Every weight but the item embedding is copied as is (shapes must match: same hidden_size,
    n_layers, inner_size and MAX_ITEM_LIST_LENGTH). Item rows are matched by token, since
    RecBole numbers tokens afresh for every dataset; tokens new to the model get `init` rows.
    Returns the list of new tokens.
    """
    _check_causal(old_model, "carry weights over")
    _check_causal(new_model, "carry weights over")
    old_state, new_state = old_model.state_dict(), new_model.state_dict()
    for name, tensor in new_state.items():
        if name == "item_embedding.weight":
            continue
        if name not in old_state or old_state[name].shape != tensor.shape:
            shape = tuple(old_state[name].shape) if name in old_state else "missing"
            raise ValueError(
                f"cannot carry weight '{name}' over: trained model has {shape}, new model has "
                f"{tuple(tensor.shape)} (use the trained model's hidden_size, n_layers, inner_size "
                "and MAX_ITEM_LIST_LENGTH)"
            )
    old_ids = old_dataset.field2token_id[old_dataset.iid_field]
    new_tokens = new_dataset.field2id_token[new_dataset.iid_field]  # id → token, id 0 = [PAD]
    matched = [(new_id, old_ids[token]) for new_id, token in enumerate(new_tokens) if new_id and token in old_ids]
    fresh = [new_id for new_id, token in enumerate(new_tokens) if new_id and token not in old_ids]

    with torch.no_grad():
        for name, tensor in new_state.items():
            if name != "item_embedding.weight":
                tensor.copy_(old_state[name])
        weight = new_model.item_embedding.weight  # (I_new, D)
        old_weight = old_model.item_embedding.weight.to(weight.device)
        if matched:
            new_index, old_index = (torch.tensor(ids, device=weight.device) for ids in zip(*matched))
            weight[new_index] = old_weight[old_index]
        if fresh:
            rows = new_item_rows(old_model, len(fresh), init, generator)  # (F, D)
            weight[torch.tensor(fresh, device=weight.device)] = rows.to(weight.device)
    return [str(new_tokens[new_id]) for new_id in fresh]
