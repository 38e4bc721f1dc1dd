"""Notice delivery to receivers over HTTP."""
