# Spatial-Mamba-T + Mask R-CNN FPN 1x on COCO, as EdwardChasel/Spatial-Mamba
# detection/configs/spatialmamba/mask_rcnn_spatialmamba_fpn_coco_tiny.py
# builds it (on top of mmdet's mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py).
_base_ = ["../_base_/mask_rcnn_fpn_1x.py"]

custom_imports = dict(imports=["vzoo.zoo.spatial_mamba"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type="MM_SpatialMamba",
        out_indices=(0, 1, 2, 3),
        pretrained="",
        dims=64,
        d_state=1,
        depths=(2, 4, 8, 4),
        drop_path_rate=0.2,
    ),
    neck=dict(in_channels=[64, 128, 256, 512]),
)

# The authors' Swin-T 1x config warms up for 1000 iterations (mmdet's schedule_1x: 500).
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
