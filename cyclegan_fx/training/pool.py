"""The history of generated images the discriminators are shown (Shrivastava et al.), with its state."""

from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    """Returns each new image, or with probability 1/2 one from the pool that it then replaces."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch as large as ``images``, drawn as the official pool does."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand((), generator=self.generator) > 0.5:
                slot = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"images": [image.cpu() for image in self.images], "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.images = [image.to(device) for image in state["images"]]
        self.generator.set_state(state["generator"])
