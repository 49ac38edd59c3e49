"""An XNAT-compatible server on this machine: the embedded default for the demo and the tests.

FastAPI + uvicorn on 127.0.0.1, a SQLite catalogue and an archive folder laid out like XNAT's,
serving the REST paths the real xnatpy and pyxnat clients use.

- `server.running_sandbox(data_dir)` / `xnat-monai sandbox serve`: start one;
- `app.create_app(data_dir)`: the FastAPI app (includes `container_service.routes` if present);
- `auth`: users, roles, web sessions, `issue_alias_token` / `revoke_alias_token`;
- `events`: the in-process event bus (`SessionEvent` CREATED when a session is created);
- `archive.archive_directory(data_dir, uri)`: the folder of any object, for bind mounts;
- `data_path` → `resolve` → `routes_*`: how a `/data/…` request finds its handler;
- `schemas/`: the XSDs this server serves at `/xapi/schemas` and validates assessors with.
"""
