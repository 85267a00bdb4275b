"""The deployment files run against real services."""
