"""Contract test suites: one per protocol, run by every implementation by subclassing and supplying one fixture."""
