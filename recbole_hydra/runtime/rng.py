"""The random state of a training run, saved with its last epoch so that a resumed run replays it.

RecBole's checkpoints keep the model and the optimizer but no random state, so a resumed run
reseeds and draws other dropout masks, batch orders, negative samples and masked items than the
run it continues. These are all the generators a RecBole epoch draws from:
- torch's CPU and CUDA generators (dropout),
- numpy's global generator (RecBole's negative samplers),
- python's `random` (the masking transform of bidirectional training),
- each dataloader's own `torch.Generator` (the batch order of a shuffled loader).

The state is kept as JSON-able values (numbers, lists, base64 text), so it travels in the run's
history record and loading it runs no pickled code.
"""

import base64
import random

import numpy as np
import torch


def _encode(byte_tensor):
    return base64.b64encode(byte_tensor.numpy().tobytes()).decode("ascii")


def _decode(text):
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def _generator_of(loader):
    generator = getattr(loader, "generator", None)
    return generator if isinstance(generator, torch.Generator) else None


def capture(dataloaders):
    """Every generator's state now; `dataloaders` in the order `restore` will get them."""
    version, python_state, gauss_next = random.getstate()
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "python": [version, list(python_state), gauss_next],
        "numpy": [kind, keys.tolist(), int(position), int(has_gauss), float(cached_gaussian)],
        "torch": _encode(torch.get_rng_state()),
        "cuda": [_encode(state) for state in torch.cuda.get_rng_state_all()] if cuda else [],
        "dataloaders": [_encode(g.get_state()) if (g := _generator_of(loader)) else None for loader in dataloaders],
    }


def restore(state, dataloaders):
    """Set every generator to `state` (from `capture`); returns the parts that could not be set.

    A CUDA state is skipped when the number of GPUs differs from the run that saved it (a run
    moved to another machine): the rest still replays, and the caller says what was not.
    """
    version, python_state, gauss_next = state["python"]
    random.setstate((version, tuple(python_state), gauss_next))
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(_decode(state["torch"]))
    skipped = []
    if state["cuda"]:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
            torch.cuda.set_rng_state_all([_decode(text) for text in state["cuda"]])
        else:
            skipped.append(f"CUDA (saved for {len(state['cuda'])} GPUs)")
    saved_loaders = state["dataloaders"]
    if len(saved_loaders) != len(dataloaders):
        raise ValueError(f"random state saved for {len(saved_loaders)} dataloaders, got {len(dataloaders)}")
    for loader, saved in zip(dataloaders, saved_loaders):
        generator = _generator_of(loader)
        if saved is not None and generator is not None:
            generator.set_state(_decode(saved))
    return skipped
