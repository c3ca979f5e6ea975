"""Which model names exist, recbole-hydra's and RecBole's: the one lookup behind every option that names a model.

RecBole's `get_model(name)` fails on an unknown name with a traceback about lightgbm (the last
package it searches) and on a wrong case with an AttributeError; here every miss is a
ConfigError naming the option, with the closest known name.
"""

import importlib
import importlib.util
import inspect

from recbole_hydra.config_errors import ConfigError, did_you_mean

# recbole-hydra's models: name → the module that holds the class (RecBole finds it there too,
# see patches.py).
PLUGIN_MODELS = {"HydraRec": "recbole_hydra.model.hydrarec"}
_MODEL_KINDS = ("general", "context_aware", "sequential", "knowledge_aware")
_EXLIB_MODELS = ("LightGBM", "XGBoost")  # need optional libraries RecBole does not install


def model_class(name, option="--model"):
    """The class RecBole's get_model(name) returns; else a ConfigError naming `option`."""
    if name in PLUGIN_MODELS:
        return getattr(importlib.import_module(PLUGIN_MODELS[name]), name)
    if name in _EXLIB_MODELS:
        missing = [lib for lib in ("lightgbm", "xgboost") if importlib.util.find_spec(lib) is None]
        if missing:  # RecBole's exlib package imports both
            raise ConfigError(
                f"option {option}: {name} needs the optional packages {', '.join(missing)}; install them first"
            )
        from recbole.utils import get_model

        return get_model(name)
    for kind in _MODEL_KINDS:
        path = f"recbole.model.{kind}_recommender.{str(name).lower()}"
        if importlib.util.find_spec(path) and hasattr(importlib.import_module(path), name):
            return getattr(importlib.import_module(path), name)
    raise ConfigError(
        f"option {option}: {name!r} is not a model RecBole or recbole-hydra knows{did_you_mean(name, model_names())}"
    )


def sequential_model_class(name, option="--models"):
    """model_class(name), which must be a sequential model (HydraRec or one of RecBole's)."""
    from recbole.utils import ModelType

    found = model_class(name, option)
    if found.type != ModelType.SEQUENTIAL:
        raise ConfigError(
            f"option {option}: '{name}' is a {found.type.name.lower()} model; only sequential "
            "models fit the leave-one-out next-item protocol"
        )
    return found


def model_names(kinds=_MODEL_KINDS):
    """Model class names RecBole's get_model takes, of the given kinds, plus ours."""
    from recbole.model.abstract_recommender import AbstractRecommender

    names = set(PLUGIN_MODELS)
    for kind in kinds:
        package = importlib.import_module(f"recbole.model.{kind}_recommender")
        names |= {
            name
            for name, cls in inspect.getmembers(package, inspect.isclass)
            if issubclass(cls, AbstractRecommender) and cls.__module__.startswith(package.__name__)
        }
    return sorted(names)
