"""Ticket store for escalated conversations: models, engine, priority policy and the store API."""
