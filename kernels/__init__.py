"""Selective-scan and cross-scan kernels: reference, vectorised PyTorch, Triton."""
