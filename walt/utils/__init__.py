"""The ground floor of walt: small helpers that import nothing from the rest of walt and nothing heavy at import time
(``atomic`` file writes, ``imports.import_submodules``). Everything else lives with the code that uses it."""
