"""Model analysis: FLOP and parameter counting (meta device), activation memory (``flops.py``, ``flop_handles.py``)."""
