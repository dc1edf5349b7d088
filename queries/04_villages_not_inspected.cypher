// 本届尚未巡察的村(社区)：某区县中还没有任何问题记录（即尚未巡察）的村和社区，按乡镇列出，便于安排届内全覆盖。
// Villages not yet inspected this term in a district: no problem recorded for them since the term
// began, listed by township, to plan full coverage within the term (届内全覆盖).
// params: {"district": "500101", "term_start": "2022-01-01"}
MATCH (v:Village)-[:PART_OF]->(t:Township)-[:PART_OF]->(:District {code: $district})
WHERE NOT EXISTS { (i:Issue)-[:FOUND_IN]->(v) WHERE i.found_on >= date($term_start) }
RETURN t.name AS township, collect(v.name) AS villages, count(v) AS not_inspected
ORDER BY not_inspected DESC
