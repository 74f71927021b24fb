# The tiny Mask R-CNN with a one-block-per-stage Spatial-Mamba backbone (state scans and state
# fusion in every block): counts FLOPs the way the Spatial-Mamba detection rows do, in seconds.
# Not a registry row.
_base_ = ["./tiny_mask_rcnn.py"]

custom_imports = dict(imports=["vzoo.zoo.spatial_mamba"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type="MM_SpatialMamba",
        out_indices=(0, 1, 2, 3),
        pretrained="",
        dims=16,
        d_state=1,
        depths=(1, 1, 1, 1),
        drop_path_rate=0.0,
    ),
)
