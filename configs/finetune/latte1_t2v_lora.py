# LoRA fine-tuning (peft adapters, walt/models/adapters/lora.py; not W.A.L.T's AdaLN-LoRA conditioning) of the
# released Latte-1 text-to-video model on your own captioned clips: a CSV of `path,caption` rows under data/my_videos
# (README "Fine-tune on your own videos"). The base is Latte-1's public diffusers folder (transformer/, its T5 and VAE
# as configs/pretrained/latte_t2v.py loads them), frozen; rank-16 adapters on the self-attention q/k/v and output
# projections and on the text cross-attention train alone (AdamW 1e-4, their EMA), gradient checkpointing on.
# Checkpoints hold the adapters and the base's path and SHA-256. The samples logged every sample.interval steps use
# the published Latte-1 sampling settings inherited from configs/pretrained/latte_t2v.py: DDIM 50 "leading" steps,
# guidance 7.5 against the empty prompt, 16 frames at 512², 8 fps.
#   python tools/train.py configs/finetune/latte1_t2v_lora.py
#   python tools/sample.py configs/finetune/latte1_t2v_lora.py --checkpoint checkpoints/Latte-1/transformer \
#       --lora work_dirs/latte1_t2v_lora --prompt "a timelapse of my garden"
_base_ = ["../pretrained/latte_t2v.py"]
load_from = "checkpoints/Latte-1/transformer"
model = dict(lora=dict(r=16, alpha=16.0, dropout=0.0,
                       target=["attn_qkv", "attn_out", "cross_q", "cross_kv", "cross_out"]),
             cond_dropout_prob=0.1)  # keep the empty-prompt branch of classifier-free guidance trained
data = dict(train=dict(_delete_=True, type="TextVideoCSV", root="data/my_videos", csv="captions.csv", num_frames=16,
                       frame_interval=3, resolution=512, hflip=0.0),
            batch_size=4, micro_batch_size=1, num_workers=4)
optimizer = dict(type="AdamW", lr=1e-4, weight_decay=0.0)
ema = dict(decay=0.995)  # a short run: 0.9999 would keep the EMA adapters near zero for thousands of steps
grad_checkpointing = True
max_steps = 2000
ckpt_interval = 250
sample = dict(interval=250, num=2, prompts=["a timelapse of clouds over a mountain lake",
                                            "a dog running on a beach at sunset"])
