"""Benchmark harness: runs agents over a task set and reports what the runtime costs."""
