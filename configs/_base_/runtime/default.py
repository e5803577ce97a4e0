# Everything about running a training job (tools/train.py); every engine key, its default and valid values:
# walt/engine/schema.py. The batch lives with the data: data.batch_size is the global batch (the paper's number),
# data.micro_batch_size what one process computes at once (default batch_size / world size; smaller values add
# gradient-accumulation steps).
seed = 0
precision = "bf16"            # "bf16" | "fp16" | "fp32"; bf16 autocast on CUDA and on CPUs with native bf16
grad_checkpointing = False
parallel = "ddp"              # "ddp" | "fsdp" (used when launched with torchrun)
log_interval = 10
ckpt_interval = 1000
ckpt_keep_last = 3            # checkpoints kept besides the ckpt_keep_every ones (None: all); `latest` is never deleted
ckpt_keep_every = None        # also keep every N-th step's checkpoint for good (e.g. 10000); None: off
# periodic samples with the EMA weights (0 = never); y: class labels, prompts: captions (None: the model's default)
# inference switches (tools/sample.py, tools/eval.py, periodic samples): compile=True is the frozen-weight inductor
# compile, cache=dict(type="TeaCache", threshold=0.1) TeaCache step caching (docs/benchmarks.md "Sampling")
sample = dict(interval=5000, num=4, steps=50, cfg_scale=1.0, fps=8, y=None, prompts=None, compile=False, cache=None)
wandb = dict(mode="disabled", project="walt", entity=None, name=None)   # mode: "online" | "offline" | "disabled"
work_dir = None               # None: work_dirs/<config file name>
