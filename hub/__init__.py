"""Checkpoint downloads and the local cache: resumable, verified, atomic (issue: vzoo download)."""
