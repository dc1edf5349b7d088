// 联动整改包的基层端：某区划内某类问题涉及的每个村(社区)、其问题和乡镇责任单位。
// The grassroots end (基层端) of a joint package: every village with problems of the category in
// an area, its problems, and the township units that bear a duty for them.
// params: {"area_code": "500101", "category": "低保特困救助"}
MATCH (i:Issue {category: $category})-[:FOUND_IN]->(v:Village)-[:PART_OF]->(t:Township)
WHERE v.code STARTS WITH $area_code
WITH v, t, collect(i.issue_id + ' ' + i.status) AS problems
OPTIONAL MATCH (u:Unit)-[:BELONGS_TO]->(t), (u)-[d:DUTY]->(:Category {name: $category})
RETURN v.code AS village_code, v.name AS village, t.name AS township, problems,
       collect(DISTINCT u.name + '（' + d.duty + '）') AS township_units
ORDER BY size(problems) DESC, village_code
