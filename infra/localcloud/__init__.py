"""The local cloud: the SAM app on one machine, no Docker.

It knows the functions only through template.yaml."""
