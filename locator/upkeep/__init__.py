"""Keeping the map true: riders' reports and their review, on-site verification rounds,
anonymous check-ins and star-rating checklists. Pure rules over the store; no Flask."""
