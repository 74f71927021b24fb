# MSVMamba-Tiny UperNet 160k, ADE20K 512x512, as YuHengsss/MSVMamba
# segmentation/configs/ms_vssm/upernet_ms_vssm_4xb4-160k_ade20k-512x512_tiny.py.
# Their config inherits mmseg's Swin-T UperNet 160k config (AdamW lr 6e-5, wd 0.01, poly schedule
# with 1500 warm-up iterations, batch 2 per GPU); drop_path_rate=0.2 is set by
# their tiny config.
_base_ = [
    "mmseg::_base_/models/upernet_swin.py",
    "mmseg::_base_/datasets/ade20k.py",
    "mmseg::_base_/default_runtime.py",
    "mmseg::_base_/schedules/schedule_160k.py",
]
custom_imports = dict(imports=["vzoo.zoo.msvmamba"], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type="MM_VSSM",
        depths=(1, 2, 9, 2),
        dims=96,
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
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150),
)

optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.0),
            relative_position_bias_table=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0),
        )
    ),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type="PolyLR", eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
