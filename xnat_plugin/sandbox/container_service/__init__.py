"""The sandbox's Container Service: XNAT's `/xapi` command, launch, container and event
subscription REST paths on SQLite, running containers with `xnat_plugin.runner` on a bounded
worker pool. `routes.router` and `routes.on_startup/on_shutdown` plug it into the sandbox app.
"""
