"""One blueprint per resource, all under /v1."""
