"""How the assistant reads what users write: text normalisation and step answers in context (imports nothing of the project)."""
