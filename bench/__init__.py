"""imagenet-bench: benchmark pretrained ImageNet classifiers, accuracy and cost in one run."""

__version__ = "0.1.0"
