# TinyNet-S Mask R-CNN 1x: mmdet's own R-50 Mask R-CNN 1x with the backbone swapped.
_base_ = ["mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py"]
custom_imports = dict(imports=["vzoo_tinynet.model"], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type="TinyNet", arch="tinynet-s"),
    neck=dict(in_channels=[32, 64, 128, 256]),
)
