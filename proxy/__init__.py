"""dragoman's HTTP side: app factory, middlewares, handlers, upstream client, config and CLI."""
