"""The spine every command plugs into: registry -> results store -> reports.

Nothing here imports torch or mmdet, so `vzoo list/show/compare` start fast.
"""
