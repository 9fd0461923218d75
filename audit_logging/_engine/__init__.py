"""
The bus engine: admission, dispatch, history, resilience, metrics, spill, lifecycle.
"""
