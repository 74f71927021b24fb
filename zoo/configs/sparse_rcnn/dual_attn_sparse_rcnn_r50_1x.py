# Dual-Attention Sparse R-CNN R-50-FPN 1x, as the authors' mmdet-2 config builds it
# (sangwooP/dual_attn_sparse_rcnn configs/dual_attn_sparsercnn/dual_attn_sparsercnn_r50_fpn_1x_coco.py):
# Sparse R-CNN with 100 proposals and 6 stages, RoIAlign 5x5, and DualAttnHead (1 dynamic
# CBAM layer, 4 RoI-transformer layers, FFN 2048) in place of DIIHead. Backbone, FPN,
# EmbeddingRPNHead, assigner/sampler and test settings are the baseline's.
# (The authors' `rpn_head.mode='center'` is swallowed by **kwargs in mmdet 2 and 3: omitted.)
_base_ = ["./sparse_rcnn_r50_1x.py"]

custom_imports = dict(imports=["vzoo.zoo.dual_attn_sparse_rcnn"], allow_failed_imports=False)

num_stages = 6
num_proposals = 100
roi_size = 5

model = dict(
    rpn_head=dict(num_proposals=num_proposals),
    roi_head=dict(
        num_stages=num_stages,
        stage_loss_weights=[1] * num_stages,
        bbox_roi_extractor=dict(roi_layer=dict(output_size=roi_size)),
        bbox_head=[
            dict(
                type="DualAttnHead",
                num_classes=80,
                num_proposal=num_proposals,
                roi_size=roi_size,
                num_roi_cbamlayer=1,
                dynamic_cbam=True,
                num_roi_trlayer=4,
                num_ffn_fcs=2,
                num_heads=8,
                num_cls_fcs=1,
                num_reg_fcs=3,
                feedforward_channels=2048,
                in_channels=256,
                dropout=0.0,
                ffn_act_cfg=dict(type="ReLU", inplace=True),
                loss_bbox=dict(type="L1Loss", loss_weight=5.0),
                loss_iou=dict(type="GIoULoss", loss_weight=2.0),
                loss_cls=dict(
                    type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0
                ),
                positional_encoding=dict(
                    type="SinePositionalEncoding", num_feats=128, normalize=True
                ),
                bbox_coder=dict(
                    type="DeltaXYWHBBoxCoder",
                    clip_border=False,
                    target_means=[0.0, 0.0, 0.0, 0.0],
                    target_stds=[0.5, 0.5, 1.0, 1.0],
                ),
            )
            for _ in range(num_stages)
        ],
    ),
    test_cfg=dict(rpn=None, rcnn=dict(max_per_img=num_proposals)),
)

# The authors' schedule (mmcv-1 hooks -> mmengine): AdamW lr 1e-4, wd 1e-4, grad-norm clip
# 0.1; linear warm-up over 500 iterations from 0.1x, then per-epoch cosine to 2.5e-7 over
# 12 epochs; 8 images per GPU (their README trains on 2 GPUs: 16 images per batch).
train_dataloader = dict(batch_size=8)
optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=0.0001, weight_decay=0.0001),
    clip_grad=dict(max_norm=0.1, norm_type=2),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end=12, T_max=12, eta_min=2.5e-7),
]
