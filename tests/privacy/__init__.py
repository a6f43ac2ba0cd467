"""Privacy tests: an independent attacker on everything the service publishes (issue 11, item 2)."""
