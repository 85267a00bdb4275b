"""Checks of the deployment files (docker-compose.yml, Dockerfile, deploy/): no services."""
