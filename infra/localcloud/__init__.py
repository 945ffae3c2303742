"""The local cloud: the SAM app on one machine, no Docker. Knows functions only via template.yaml."""
