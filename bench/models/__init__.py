"""Models: the registry (names, globs, did-you-mean -> ModelSpec), weights (the library's own
builder and cache, random, or a file) and the reference tables (what authors report).

Only this subpackage imports timm or torchvision model code.
"""

from .registry import (
    TIMM,
    TV,
    ModelId,
    ModelSpec,
    expand,
    list_models,
    match,
    not_a_classifier,
    resolve,
    suggest,
    timm_pretrained,
    torchvision_models,
    torchvision_references,
)
from .weights import (
    PYPI_WEIGHTS,
    WeightsInfo,
    build,
    prefers_channels_last,
    read_checkpoint,
    state_dict_sha256,
    tv_cache_path,
    uncached_weights_hint,
    weights_file,
)

__all__ = [
    "PYPI_WEIGHTS",
    "TIMM",
    "TV",
    "ModelId",
    "ModelSpec",
    "WeightsInfo",
    "build",
    "expand",
    "list_models",
    "match",
    "not_a_classifier",
    "prefers_channels_last",
    "read_checkpoint",
    "resolve",
    "state_dict_sha256",
    "suggest",
    "timm_pretrained",
    "torchvision_models",
    "torchvision_references",
    "tv_cache_path",
    "uncached_weights_hint",
    "weights_file",
]
