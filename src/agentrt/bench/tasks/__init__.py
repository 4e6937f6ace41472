"""``agentrt bench tasks``: Harbor / Terminal-Bench 2 task directories (and MirrorCode-style rebuild
tasks) run on the host inside bubblewrap, laid out as Harbor lays out its container.

* ``spec``: loading and validating a task directory (``task.toml``, the Dockerfile subset);
* ``container``: the per-task mount layout (``/app``, ``/logs``, ``/tests``) as a ``Sandbox``;
* ``runner``: the agent (``oracle`` or ``exec``), the verifier, rewards, results.
"""
