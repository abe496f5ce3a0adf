"""The newcomer's commands: ``init``, ``claude`` / ``codex``, ``setup``, ``doctor`` and ``check-config``.

One module per command; proxy/cli.py parses the arguments and calls them. ``serve`` stays in
proxy/cli.py and proxy/server.py.
"""
