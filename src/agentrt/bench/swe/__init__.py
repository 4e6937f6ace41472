"""``agentrt bench swe``: SWE-bench predictions from agentrt's coding agent.

Each instance (``instance_id``, ``repo``, ``base_commit``, ``problem_statement`` from a SWE-bench
JSONL file) gets a fresh checkout of its local clone at ``base_commit``; the coding agent
(``bench.repo_agent``, the one ``--agent exec`` runs) works on the problem statement there under the
OS sandbox; the diff of the checkout against ``base_commit`` becomes the instance's ``model_patch``
in ``predictions.jsonl``, the file SWE-bench's evaluation harness reads. Evaluating the predictions
needs the harness's containers and is not done here.

* ``instances``: reading and checking the instances file, finding each repository's clone;
* ``checkout``: the per-instance checkout and its diff (git);
* ``runner``: the run — concurrency, rows, predictions, summary, resuming.
"""
