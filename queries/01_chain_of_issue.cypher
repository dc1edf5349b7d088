// 问题的责任链：一个问题从村(社区)到乡镇、区县，每一级对该类问题负有责任的单位及责任类型。
// The responsibility chain of one problem: village -> township -> district, with every unit that
// bears a duty for the problem's category at each level.
// params: {"issue_id": "500101-00001"}
MATCH (i:Issue {issue_id: $issue_id})-[:FOUND_IN]->(v:Village)-[:PART_OF]->(t:Township)-[:PART_OF]->(d:District)
MATCH (i)-[:OF_CATEGORY]->(c:Category)
OPTIONAL MATCH (tu:Unit)-[:BELONGS_TO]->(t), (tu)-[td:DUTY]->(c)
WITH i, v, t, d, c, collect(DISTINCT tu.name + '（' + td.duty + '）') AS township_units
OPTIONAL MATCH (du:Unit)-[:BELONGS_TO]->(d), (du)-[dd:DUTY]->(c)
WITH i, v, t, d, c, township_units, collect(DISTINCT du.name + '（' + dd.duty + '）') AS district_units
OPTIONAL MATCH (i)-[:ROOT_CAUSE_AT]->(hint:Unit)
RETURN i.issue_id AS issue, c.name AS category, v.name AS village, t.name AS township, township_units,
       d.name AS district, district_units, hint.name AS inspectors_hint
