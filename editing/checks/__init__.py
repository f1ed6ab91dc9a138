"""The editors' checks of the project, one module per concern (run together by editing.validate)."""
