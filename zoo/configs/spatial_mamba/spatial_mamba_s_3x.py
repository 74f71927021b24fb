# Spatial-Mamba-S + Mask R-CNN FPN 3x on COCO, as EdwardChasel/Spatial-Mamba
# detection/configs/spatialmamba/mask_rcnn_spatialmamba_fpn_coco_small_3x.py
# builds it (on top of mmdet's mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py).
_base_ = ["../_base_/mask_rcnn_fpn_3x.py"]

custom_imports = dict(imports=["vzoo.zoo.spatial_mamba"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type="MM_SpatialMamba",
        out_indices=(0, 1, 2, 3),
        pretrained="",
        dims=64,
        d_state=1,
        depths=(2, 4, 21, 5),
        drop_path_rate=0.3,
    ),
    neck=dict(in_channels=[64, 128, 256, 512]),
)
