"""Speed and memory of rows' models on one protocol (Swin's `throughput()`): `vzoo bench`."""
