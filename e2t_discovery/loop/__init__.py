"""The discovery loop: the Campaign facade and its steps.

Steps: ingest, adapt, screen, propose, measure; rounds chains them resumably.
"""
