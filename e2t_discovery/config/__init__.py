"""Campaign files: the schema, its checks against the registries, shipped templates."""
