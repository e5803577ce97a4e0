# W.A.L.T Table 4: W.A.L.T-XL with AdaLN-LoRA r = 2 (460M), 60,000 steps — the UCF-101 model of walt_ucf.py.
_base_ = ["../walt_ucf.py"]
