"""Benchmarks that print our figures side by side with a peer's; nothing here asserts."""
