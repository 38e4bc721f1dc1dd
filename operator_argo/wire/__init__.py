"""The contract's request shapes: what each route reads, parsed into domain values, and the same
declarations described for the OpenAPI document (api/openapi.py) so the two cannot part."""
