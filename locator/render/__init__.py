"""HTML rendering shared by the web pages and the coverage report: the folium map base
(:mod:`.foliummap`), the base maps and the notice every map shows at its bottom left
(:mod:`.basemap`), and JSON safe to embed in HTML (:mod:`.htmljson`)."""
