"""The official pretrained CycleGAN generators, grouped into bundles with both directions where both exist.

The files are those the official repository's ``scripts/download_cyclegan_model.sh`` lists: ResNet-9 generators
trained on 256 px crops.
"""

from __future__ import annotations

from dataclasses import dataclass

from cyclegan_fx.errors import ModelNotFoundError

TRAINING_SIZE = 256


@dataclass(frozen=True)
class Source:
    file: str  # the official file name without ".pth"
    label: str  # the menu label of this direction


@dataclass(frozen=True)
class Pretrained:
    name: str  # the bundle's name in the store
    a2b: Source
    b2a: Source | None = None
    aliases: tuple[str, ...] = ()

    def sources(self) -> dict[str, Source]:
        """The directions this bundle gets, a2b first."""
        return {"a2b": self.a2b} | ({"b2a": self.b2a} if self.b2a else {})

    def names(self) -> tuple[str, ...]:
        """Everything that selects this bundle: its name, aliases and the official file names."""
        return (self.name, *self.aliases, *(s.file for s in self.sources().values()))


CATALOGUE: tuple[Pretrained, ...] = (
    Pretrained("summer2winter", Source("summer2winter_yosemite", "Summer to Winter"),
               Source("winter2summer_yosemite", "Winter to Summer"), ("s2w",)),
    Pretrained("horse2zebra", Source("horse2zebra", "Horse to Zebra"), Source("zebra2horse", "Zebra to Horse"),
               ("h2z",)),
    Pretrained("apple2orange", Source("apple2orange", "Apple to Orange"), Source("orange2apple", "Orange to Apple"),
               ("a2o",)),
    Pretrained("cityscapes", Source("cityscapes_photo2label", "Street Photo to Labels"),
               Source("cityscapes_label2photo", "Labels to Street Photo")),
    Pretrained("facades", Source("facades_photo2label", "Facade Photo to Labels"),
               Source("facades_label2photo", "Labels to Facade Photo")),
    Pretrained("sat2map", Source("sat2map", "Satellite to Map"), Source("map2sat", "Map to Satellite")),
    Pretrained("monet2photo", Source("monet2photo", "Monet to Photo")),
    Pretrained("style_monet", Source("style_monet", "Photo to Monet")),
    Pretrained("style_cezanne", Source("style_cezanne", "Photo to Cezanne")),
    Pretrained("style_ukiyoe", Source("style_ukiyoe", "Photo to Ukiyo-e")),
    Pretrained("style_vangogh", Source("style_vangogh", "Photo to Van Gogh")),
    Pretrained("iphone2dslr_flower", Source("iphone2dslr_flower", "iPhone to DSLR (flowers)")),
)


def find(name: str) -> Pretrained:
    """The bundle that ``name`` selects, or a ModelNotFoundError naming a few that exist."""
    wanted = name.strip().lower()
    for entry in CATALOGUE:
        if wanted in entry.names():
            return entry
    some = ", ".join(e.name for e in CATALOGUE[:4])
    raise ModelNotFoundError(
        f"No downloadable model named {name!r}; try {some} or s2w ('cyclegan-fx models download --list' shows all)."
    )
