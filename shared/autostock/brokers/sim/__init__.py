"""Protocol-faithful local simulators of each broker, for tests and `make run`."""
