# MSVMamba-Micro Mask R-CNN 3x, as YuHengsss/MSVMamba
# detection/configs/ms_vssm/mask_rcnn_ms_vssm_fpn_coco_micro_3x.py.
# Their config inherits the Swin-T Mask R-CNN 1x config without `_delete_`, so the Swin backbone
# kwargs are merged in and swallowed; the only one with an effect is drop_path_rate=0.2 (written
# out here). 1x and 3x build the same model; 3x differs only in schedule and multi-scale-crop data.
# pretrained=None: the detector checkpoint holds the backbone; to train, point it at the
# ImageNet checkpoint of the classifier.
_base_ = ["../_base_/mask_rcnn_fpn_3x.py"]
custom_imports = dict(imports=["vzoo.zoo.msvmamba"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type="MM_VSSM",
        depths=(1, 2, 5, 2),
        dims=64,
        out_indices=(0, 1, 2, 3),
        pretrained=None,
        ssm_d_state=1,
        ssm_dt_rank="auto",
        ssm_ratio=2.0,
        mlp_ratio=0.0,
        downsample_version="v1",
        patchembed_version="v1",
        sscore_type="multiscale_4scan_12",
        convFFN=True,
        add_se=True,
        ms_stage=[0, 1, 2, 3],
        ms_split=[1, 3],
        ffn_dropout=0.0,
        drop_path_rate=0.2,
    ),
    neck=dict(in_channels=[64, 128, 256, 512]),
)
# Their repo's copy of mmdet's coco_instance.py trains with 4 images (and 4 workers) per GPU.
train_dataloader = dict(batch_size=4, num_workers=4)
