"""A Container Service engine: what XNAT does between "Launch" and "Complete".

- `xnat_objects`: the JSON of an XNAT object as Container Service serialises it (over REST);
- `matchers` (+ `matcher_syntax`): Jayway-JsonPath filters over that JSON;
- `input_tree`, `resolve` (+ `command_line`, `mounts_and_outputs`): resolve a wrapper on a
  target, `preresolve` for the launch UI;
- `stage`: a host folder behind each mount; `backends`: run as a process or with Docker;
- `finalize`: upload outputs in handler order; `status`: the status machine;
- `engine.execute`: all of it, reporting each status; `cli`: `xnat-monai run`.
"""
