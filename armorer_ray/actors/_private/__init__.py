"""Ray plumbing behind the `Deployment` handle: replicas, controller, router, snapshots. Free to change."""
