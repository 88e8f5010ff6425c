"""A run's generators into the model store: one bundle with both directions, ready for apply and GIMP."""

from __future__ import annotations

import datetime as dt
import logging

from cyclegan_fx.errors import ConfigError
from cyclegan_fx.models import Model, ModelStore, read_bundle
from cyclegan_fx.models.store import check_name
from cyclegan_fx.networks import Generator
from cyclegan_fx.training.checkpoint import load_latest
from cyclegan_fx.training.config import TrainConfig, config_from_dict
from cyclegan_fx.training.model import make_generator
from cyclegan_fx.training.run import RunFolder

log = logging.getLogger("cyclegan_fx")

_DIRECTIONS = (("a2b", "G_A."), ("b2a", "G_B."))


def check_export_name(store: ModelStore, name: str, run: RunFolder) -> None:
    """Refuse a store name that a model from somewhere other than this run already has."""
    folder = store.models_dir / check_name(name)
    if not (folder / "model.json").is_file():
        return
    provenance = read_bundle(folder).info.provenance
    if any(p.get("run") != str(run.path.resolve()) for p in provenance.values()) or not provenance:
        raise ConfigError(
            f"The model store has a model named {name!r} that this run did not make; choose another --name "
            f"or remove it with 'cyclegan-fx models remove {name}'."
        )


def export_run(
    run: RunFolder,
    name: str | None = None,
    label: str | None = None,
    label_b2a: str | None = None,
    store: ModelStore | None = None,
) -> Model:
    """Write the generators of the run's latest checkpoint to the store as ``name`` (default: the run's name);
    ``label`` and ``label_b2a`` are the menu labels of the two directions (default: the run's)."""
    path, state = load_latest(run.checkpoints)
    config = config_from_dict(state["config"], str(path))
    store = store if store is not None else ModelStore()
    name = name or config.name
    check_export_name(store, name, run)
    provenance = {"run": str(run.path.resolve()), "checkpoint": path.name, "step": state["position"]["step"],
                  "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    model = None
    for direction, prefix in _DIRECTIONS:
        generator = _trained_generator(config, state["model"]["nets"], prefix)
        model = store.add_generator(name, generator, direction, label or config.label, config.crop_size,
                                    state["data"]["work_size"], provenance, overwrite=True,
                                    label_b2a=label_b2a or config.label_b2a)
    log.info("Exported %s (iteration %d) to the model store as %s: %s.", run.path, provenance["step"], name, model.path)
    return model


def _trained_generator(config: TrainConfig, nets: dict, prefix: str) -> Generator:
    generator = make_generator(config)
    generator.net.load_state_dict({k[len(prefix):]: v for k, v in nets.items() if k.startswith(prefix)})
    generator.net.eval()
    return generator
