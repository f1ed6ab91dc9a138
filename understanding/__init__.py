"""How the assistant reads what users write: text normalisation and step answers in context.

Imports nothing of the project.
"""
