"""Transfer: how well a pretrained backbone carries to a new task (features, probes, few-shot, BiT fine-tune)."""
