"""Vector store backends, one module each; drivers are imported when a store is constructed."""
