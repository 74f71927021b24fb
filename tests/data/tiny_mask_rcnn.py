# A deliberately tiny Mask R-CNN (ResNet-18 at 1/4 width, 320 px test scale) on the shared 1x base:
# exercises vzoo's evaluation pipeline end to end on CPU in seconds. Not a registry row.
_base_ = ["../../zoo/configs/_base_/mask_rcnn_fpn_1x.py"]
model = dict(
    backbone=dict(
        _delete_=True,
        type="ResNet",
        depth=18,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type="BN"),
        init_cfg=None,
    ),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32),
    ),
    # keep low-score boxes so a random-init model still produces detections to score
    test_cfg=dict(rcnn=dict(score_thr=0.0)),
)
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=(320, 320), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(
        type="PackDetInputs",
        meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"),
    ),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
