"""The coding agent: the one turn loop (``thread``), its session assembly for ``exec`` (``session``),
instructions, approvals, rollouts and the human renderer."""
