"""The test kit: factories for domain objects, a virtual clock, and the test data's home."""
