"""The spine every command plugs into: registry -> results store -> reports.

Nothing here imports torch or mmdet, so `vzoo list/show/compare` start fast.
"""

# Defined here, not in the `vzoo` facade above every layer: results record it, and the facade
# (which may import any room) re-exports it.
__version__ = "0.1.0"
