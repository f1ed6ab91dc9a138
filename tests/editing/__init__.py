"""Tests of the editing package."""
