"""A learning-rate schedule for any model RecBole's Trainer trains: linear warm-up, then decay per epoch.

RecBole 1.2.1 keeps one learning rate for a whole run. Two keys (defaults in
properties/lr_schedule.yaml, which leave the rate constant) change it at optimizer step s
(counted from 0 over the whole run) in epoch e (from 0):

    lr(s, e) = learning_rate × min(1, (s + 1) / lr_warmup_steps) × lr_decay ** e

The rate is a function of (s, e) alone, and both ride in the optimizer's own param_groups, which
RecBole's checkpoints save and `resume_checkpoint` restores: a resumed run continues with exactly
the rates of an uninterrupted one, with no state of ours to keep beside the checkpoint.
"""

from recbole_hydra.config_errors import ConfigError, is_real, non_negative_int

SCHEDULE_KEYS = ("lr_warmup_steps", "lr_decay")
# Where each param_group keeps the schedule's position (saved with the optimizer's state_dict).
STEP_KEY, EPOCH_KEY, BASE_KEY = "schedule_step", "schedule_epoch", "schedule_base_lr"


def check_lr_schedule(config):
    """The schedule's keys, or ConfigError naming the key. A key that is absent (None) is off."""
    if config["lr_warmup_steps"] is not None:
        non_negative_int(config, "lr_warmup_steps")
    decay = config["lr_decay"]
    if decay is not None and (not is_real(decay) or not 0 < decay <= 1):
        raise ConfigError(f"config key 'lr_decay' must be a number in (0, 1] (1: no decay), got {decay!r}")


def lr_factor(step, epoch, warmup_steps, decay):
    """The multiple of learning_rate used at optimizer step `step` of epoch `epoch`."""
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return warmup * decay**epoch


def _settings(config):
    warmup_steps = config["lr_warmup_steps"] or 0
    decay = 1.0 if config["lr_decay"] is None else float(config["lr_decay"])
    return warmup_steps, decay


def is_scheduled(config):
    """Whether `config` asks for anything but RecBole's constant rate."""
    warmup_steps, decay = _settings(config)
    return warmup_steps > 0 or decay != 1.0


def attach(optimizer, config):
    """Make `optimizer` set each step's rate from the schedule (nothing at all when it is off)."""
    if not is_scheduled(config):
        return None
    warmup_steps, decay = _settings(config)

    def before_step(optimizer, args, kwargs):
        for group in optimizer.param_groups:
            # setdefault: a checkpoint saved without the schedule starts it at its first step here.
            base, step = group.setdefault(BASE_KEY, group["lr"]), group.setdefault(STEP_KEY, 0)
            group["lr"] = base * lr_factor(step, group.setdefault(EPOCH_KEY, 0), warmup_steps, decay)
            group[STEP_KEY] = step + 1

    optimizer.lr_schedule_hook = optimizer.register_step_pre_hook(before_step)
    return optimizer.lr_schedule_hook


def start_epoch(optimizer, epoch):
    """Tell a scheduled optimizer which epoch its next steps belong to (a no-op for others)."""
    if getattr(optimizer, "lr_schedule_hook", None) is not None:
        for group in optimizer.param_groups:
            group[EPOCH_KEY] = epoch
