"""engines/argo."""
