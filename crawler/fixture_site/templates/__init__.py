"""HTML templates of the fixture site."""
