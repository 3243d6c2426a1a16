"""Model ids as people write them: `tv:resnet50.IMAGENET1K_V2`, `timm:resnet50.a1_in1k`, `resnet50`.

The one place that splits a name into (prefix, architecture, weight tag) and joins it back. Which
registry a bare name means is the registry's decision (`registry.resolve`), not the id's. A module of
its own so that both the registry and the reference tables read ids without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelId:
    """`prefix:arch.tag`, split as written, so that `str(ModelId.parse(text)) == text`.

    `prefix`: `tv`, `timm`, `torchvision` (whatever precedes the first ':'), None for a bare name. `tag`:
    everything after the first '.' of the rest (a torchvision weights enum name, a timm pretrained tag, or a
    glob), None without a dot; a trailing dot leaves "" (`resnet50.`), which readers take as no tag.
    """

    prefix: str | None
    arch: str
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelId:
        prefix, colon, rest = text.partition(":")
        arch, dot, tag = (rest if colon else text).partition(".")
        return cls(prefix if colon else None, arch, tag if dot else None)

    @property
    def name(self) -> str:
        """The id without its prefix: `arch.tag`, or `arch`."""
        return self.arch if self.tag is None else f"{self.arch}.{self.tag}"

    def __str__(self) -> str:
        return self.name if self.prefix is None else f"{self.prefix}:{self.name}"
