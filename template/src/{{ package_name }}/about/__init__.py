"""The `about` feature: what this deployment is. Two API versions show the versioning strategy."""
