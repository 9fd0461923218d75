"""
The durable spill store: writing, recovery and quarantine of spilled events.
"""
