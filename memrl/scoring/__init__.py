"""Reward API."""
