"""The planner's audience: the ``/planner`` page (:mod:`.page`), its API (:mod:`.api`),
request bodies (:mod:`.body`) and background jobs (:mod:`.jobs`)."""
