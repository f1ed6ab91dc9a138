"""Rasa input channels of Dy 客服助手 (loaded by the Rasa server from credentials.yml)."""
