"""Webhook delivery: the retry schedule, signatures, the sender and the worker."""
