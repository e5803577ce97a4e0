# LoRA fine-tuning (peft adapters, walt/models/adapters/lora.py; not W.A.L.T's AdaLN-LoRA conditioning) of the public
# class-conditional Latte UCF-101 model (ucf101.pt: Latte-XL/2, S-AdaLN, 101 classes) on your own labelled clips: a
# CSV of `path,caption,label` rows under data/my_videos (label: the UCF-101 class index 0–100 the clip should be
# generated for; the caption is not read by a class-conditional model). Rank-16 adapters on the blocks'
# self-attention q/k/v and output projections and MLPs; the "adaln" role would reach only the final layer's
# regression here (S-AdaLN's per-block regressions are one stacked tensor, not nn.Linear layers). Logged samples
# use the public sampling setup of configs/pretrained/latte_ucf.py (DDPM 250, guidance 7.0, 8 fps).
#   python tools/train.py configs/finetune/latte_ucf_lora.py
#   python tools/sample.py configs/finetune/latte_ucf_lora.py --checkpoint checkpoints/Latte/ucf101.pt \
#       --lora work_dirs/latte_ucf_lora --class 0 1
_base_ = ["../pretrained/latte_ucf.py"]
load_from = "checkpoints/Latte/ucf101.pt"
model = dict(lora=dict(r=16, alpha=16.0, dropout=0.0, target=["attn_qkv", "attn_out", "mlp"]))
data = dict(train=dict(_delete_=True, type="TextVideoCSV", root="data/my_videos", csv="labels.csv", num_frames=16,
                       frame_interval=3, resolution=256, hflip=0.5),
            batch_size=8, micro_batch_size=2, num_workers=4)
optimizer = dict(type="AdamW", lr=1e-4, weight_decay=0.0)
ema = dict(decay=0.995)  # a short run: 0.9999 would keep the EMA adapters near zero for thousands of steps
grad_checkpointing = True
max_steps = 2000
ckpt_interval = 250
sample = dict(interval=250, num=2, y=[0, 1])
