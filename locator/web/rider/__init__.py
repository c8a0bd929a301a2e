"""Pages for riders and the public: the rider page, the all-stations map and station
pages (:mod:`.pages`)."""
