"""Tests of the actions package."""
