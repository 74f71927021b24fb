"""Params and FLOPs counted the way each paper counts them (issue: vzoo flops)."""
