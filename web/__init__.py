"""The support widget page and the staff console; may import every package below it."""
