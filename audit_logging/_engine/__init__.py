"""
The bus engine: the bus and its parts (admission, delivery, dispatch,
subscriptions, lifecycle, replay), history, resilience, metrics, settings, the
spill store, and the process-wide bookkeeping and registry of buses.
"""
