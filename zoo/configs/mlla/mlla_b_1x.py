# MLLA-B Mask R-CNN 1x (LeapLabTHU/MLLA
# downstream/detection/configs/mlla/mlla_b_mrcnn_1x.py, trained with mmdet 2.25).
# The released detector checkpoint loads after `vzoo.zoo.map_mmdet2_keys`.
_base_ = ["../_base_/mask_rcnn_fpn_1x.py"]
custom_imports = dict(imports=["vzoo.zoo.mlla"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type="MLLA",
        img_size=224,
        patch_size=4,
        in_chans=3,
        num_classes=80,
        embed_dim=96,
        depths=[3, 6, 21, 6],
        num_heads=[3, 6, 12, 24],
        mlp_ratio=4,
        out_indices=(0, 1, 2, 3),
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        drop_path_rate=0.1,
        use_checkpoint=False,
        # The authors train from ImageNet weights:
        # init_cfg=dict(type="Pretrained", checkpoint="<MLLA_B.pth>"),
    ),
    neck=dict(in_channels=[96, 192, 384, 768]),
)

# The authors' 1x configs train with the same multi-scale + random-crop augmentation as 3x
# ("originates from DETR / Sparse RCNN"), not the single-scale 1x pipeline of the base.
train_scales = [(480 + 32 * i, 1333) for i in range(11)]  # 480..800 step 32
train_pipeline = [
    dict(type="LoadImageFromFile", backend_args={{_base_.backend_args}}),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="RandomFlip", prob=0.5),
    dict(
        type="RandomChoice",
        transforms=[
            [dict(type="RandomChoiceResize", scales=train_scales, keep_ratio=True)],
            [
                dict(
                    type="RandomChoiceResize",
                    scales=[(400, 1333), (500, 1333), (600, 1333)],
                    keep_ratio=True,
                ),
                dict(
                    type="RandomCrop",
                    crop_type="absolute_range",
                    crop_size=(384, 600),
                    allow_negative_crop=True,
                ),
                dict(type="RandomChoiceResize", scales=train_scales, keep_ratio=True),
            ],
        ],
    ),
    dict(type="PackDetInputs"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# The authors' mmdet-2 1x schedule warms up for 500 iterations (the shared base uses Swin's 1000).
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
