# MSVMamba-Tiny UperNet 160k, ADE20K 512x512, as YuHengsss/MSVMamba
# segmentation/configs/ms_vssm/upernet_ms_vssm_4xb4-160k_ade20k-512x512_tiny.py.
# Their config inherits mmseg's Swin-T UperNet 160k config (AdamW lr 6e-5, wd 0.01, poly schedule
# with 1500 warm-up iterations, batch 2 per GPU); drop_path_rate=0.2 is set by
# their tiny config.
_base_ = ["./msvmamba_micro_upernet_160k.py"]

model = dict(
    backbone=dict(depths=(1, 2, 9, 2), dims=96, drop_path_rate=0.2),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384),
)
