// Named, parameterised queries over the DDI graph (OpenCypher: Neo4j 5 and FalkorDB).
// Each query starts with "// name: NAME", "// params: ..." (a string unless typed ":int") and
// "// example: key=value, ..." lines; run one with
//   ddikg query NAME --param key=value
// docs/neo4j-browser.md shows the same queries for Neo4j Browser (:param syntax), generated from this
// file: python -m ddikg.kg_loader.queries docs/neo4j-browser.md

// name: interactions
// params: drug
// example: drug=华法林
// All interactions of one drug, both directions, strongest first.
MATCH (d:Drug {name: $drug})-[r]-(other:Drug)
RETURN type(r) AS type, r.label_zh AS label,
       CASE WHEN startNode(r) = d THEN 'out' ELSE 'in' END AS direction,
       other.name AS other, r.score AS score, size(r.evidence) AS sentences,
       r.evidence_sources AS sources
ORDER BY score DESC, other, type;

// name: contraindicated
// params: limit:int
// example: limit=20
// Drug pairs the instructions say must not be combined (禁忌).
MATCH (a:Drug)-[r:CONTRAINDICATION]->(b:Drug)
RETURN a.name AS drug, b.name AS contraindicated_with, r.score AS score, r.evidence[0] AS example
ORDER BY score DESC, drug, contraindicated_with
LIMIT $limit;

// name: interacting_with_both
// params: x, y
// example: x=阿司匹林, y=布洛芬
// Drugs that interact (anything but 无关) with both X and Y.
MATCH (x:Drug {name: $x})-[r1]-(d:Drug)-[r2]-(y:Drug {name: $y})
WHERE type(r1) <> 'NO_INTERACTION' AND type(r2) <> 'NO_INTERACTION' AND d <> x AND d <> y
RETURN d.name AS drug, collect(DISTINCT r1.label_zh) AS with_x, collect(DISTINCT r2.label_zh) AS with_y
ORDER BY drug;

// name: most_interacting
// params: limit:int
// example: limit=20
// Drugs with the most interactions (relationships other than 无关), either direction.
MATCH (d:Drug)-[r]-(:Drug)
WHERE type(r) <> 'NO_INTERACTION'
RETURN d.name AS drug, count(r) AS interactions
ORDER BY interactions DESC, drug
LIMIT $limit;

// name: disease_interactions
// params: disease
// example: disease=高血压
// Interactions among the drugs listed for one disease (e.g. 高血压).
MATCH (a:Drug)-[:INDICATED_FOR]->(:Disease {name: $disease})<-[:INDICATED_FOR]-(b:Drug)
MATCH (a)-[r]->(b)
RETURN a.name AS subject, type(r) AS type, r.label_zh AS label, b.name AS object, r.score AS score
ORDER BY score DESC, subject, object;

// name: evidence
// params: subject, object
// example: subject=阿司匹林, object=华法林
// The sentences behind the edges from SUBJECT to OBJECT, one row per sentence, with provenance.
MATCH (a:Drug {name: $subject})-[r]->(b:Drug {name: $object})
UNWIND range(0, size(r.evidence) - 1) AS i
RETURN type(r) AS type, r.label_zh AS label, r.evidence[i] AS sentence, r.evidence_sources[i] AS source_drug,
       r.evidence_urls[i] AS url, r.evidence_scores[i] AS score, r.model_id AS model_id,
       r.first_seen AS first_seen, r.last_seen AS last_seen, r.run_id AS run_id
ORDER BY type, score DESC, source_drug;
