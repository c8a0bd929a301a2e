"""HTML rendering shared by the web pages and the coverage report: the folium map base
(:mod:`.foliummap`) and JSON safe to embed in HTML (:mod:`.htmljson`)."""
