# Everything about running a training job (tools/train.py); see walt/engine/trainer.py.
seed = 0
precision = "bf16"            # "bf16" | "fp16" | "fp32"; bf16 autocast on CUDA and on CPUs with native bf16
grad_checkpointing = False
parallel = "ddp"              # "ddp" | "fsdp" (used when launched with torchrun)
log_interval = 10
ckpt_interval = 1000
# periodic samples with the EMA weights (0 = never); y: class labels, prompts: captions (None: the model's default)
sample = dict(interval=5000, num=4, steps=50, cfg_scale=1.0, fps=8, y=None, prompts=None)
wandb = dict(mode="disabled", project="walt", entity=None, name=None)   # mode: "online" | "offline" | "disabled"
work_dir = None               # None: work_dirs/<config file name>
