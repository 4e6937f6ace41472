"""The HumanEval task suite: the contract loop (``loop``) and the full coding agent (``coding``).

Both drive the one agent loop (``agentrt.agent.thread.Thread``); they differ in what the model gets
(a prompt and no tools, or a repository and the coding tools) and in how an answer is judged.
"""
