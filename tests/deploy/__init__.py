"""Tests of the deployment files (deploy/)."""
