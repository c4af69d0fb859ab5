"""Loading DDI triples with provenance into Neo4j (official driver) or the embedded FalkorDB server."""
