"""Tools for content editors: validate the data, report test coverage, know when to train."""
