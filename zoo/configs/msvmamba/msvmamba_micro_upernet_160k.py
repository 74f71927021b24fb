# MSVMamba-Micro UperNet 160k, ADE20K 512x512, as YuHengsss/MSVMamba
# segmentation/configs/ms_vssm/upernet_ms_vssm_4xb4-160k_ade20k-512x512_micro.py.
# Their config inherits mmseg's Swin-T UperNet 160k config (AdamW lr 6e-5, wd 0.01, poly schedule
# with 1500 warm-up iterations, batch 2 per GPU); drop_path_rate=0.3 comes from
# that Swin config (their micro config does not set it).
_base_ = ["../_base_/upernet_swin_160k.py"]
custom_imports = dict(imports=["vzoo.zoo.msvmamba"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
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
        drop_path_rate=0.3,
    ),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150),
)
