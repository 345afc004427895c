"""Test doubles that run for real (servers, clocks), used instead of mocks."""
