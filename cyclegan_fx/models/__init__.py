"""Model bundles, the user's model store, and resolving ``--model`` values."""

from cyclegan_fx.models.bundle import DIRECTIONS, Direction, DirectionInfo, Model, ModelInfo, read_bundle
from cyclegan_fx.models.resolve import resolve_model
from cyclegan_fx.models.store import ModelStore, store_home

__all__ = [
    "DIRECTIONS",
    "Direction",
    "DirectionInfo",
    "Model",
    "ModelInfo",
    "ModelStore",
    "read_bundle",
    "resolve_model",
    "store_home",
]
