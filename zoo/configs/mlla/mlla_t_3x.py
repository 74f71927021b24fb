# MLLA-T Mask R-CNN 3x (LeapLabTHU/MLLA
# downstream/detection/configs/mlla/mlla_t_mrcnn_3x.py, trained with mmdet 2.25).
# The released detector checkpoint loads after `vzoo.zoo.map_mmdet2_keys`.
_base_ = ["../_base_/mask_rcnn_fpn_3x.py"]
custom_imports = dict(imports=["vzoo.zoo.mlla"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type="MLLA",
        img_size=224,
        patch_size=4,
        in_chans=3,
        num_classes=80,
        embed_dim=64,
        depths=[2, 4, 8, 4],
        num_heads=[2, 4, 8, 16],
        mlp_ratio=4,
        out_indices=(0, 1, 2, 3),
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        drop_path_rate=0.3,
        use_checkpoint=False,
        # The authors train from ImageNet weights:
        # init_cfg=dict(type="Pretrained", checkpoint="<MLLA_T.pth>"),
    ),
    neck=dict(in_channels=[64, 128, 256, 512]),
)

# The authors' 3x configs keep mmdet-2 schedule_1x's 500-iteration linear warmup (ratio 0.001),
# with steps at epochs 27 and 33 of 36.
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type="MultiStepLR", begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
