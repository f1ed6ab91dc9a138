"""The web front of Dy 客服助手: the in-app support widget page (and later the staff console)."""
