"""Tests of the understanding package."""
