"""SubliminalBash-v0: a simulated shell with real permission semantics over the sandboxed world."""
