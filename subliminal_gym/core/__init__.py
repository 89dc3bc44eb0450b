"""The world every env runs on: users, a sandboxed fake file system, a deterministic clock."""
