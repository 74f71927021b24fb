# MSVMamba-Tiny Mask R-CNN 1x, as YuHengsss/MSVMamba
# detection/configs/ms_vssm/mask_rcnn_ms_vssm_fpn_coco_tiny.py.
# Their config inherits the Swin-T Mask R-CNN 1x config without `_delete_`, so the Swin backbone
# kwargs are merged in and swallowed; the only one with an effect is drop_path_rate=0.2 (written
# out here). 1x and 3x build the same model; 3x differs only in schedule and multi-scale-crop data.
# pretrained=None: the detector checkpoint holds the backbone; to train, point it at the
# ImageNet checkpoint of the classifier.
_base_ = ["./msvmamba_micro_1x.py"]

model = dict(
    backbone=dict(depths=(1, 2, 9, 2), dims=96),
    neck=dict(in_channels=[96, 192, 384, 768]),
)
