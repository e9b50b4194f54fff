"""Benchmarks for testbot on real modules nobody here wrote (../shared/bench/modules.yaml)."""
