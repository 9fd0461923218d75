"""
The Kafka sink: handler, producer back-ends and partitioner.
"""
