// 重点村候选：问题多、严重问题多、涉及金额大的村(社区)，供下一轮“直接巡村”参考。
// Key-village candidates (重点村): villages with many, grave or costly problems, for choosing
// direct inspection (直接巡村) next round.
// params: {"district": "500101"}
MATCH (i:Issue {district_code: $district})-[:FOUND_IN]->(v:Village)-[:PART_OF]->(t:Township)
WITH v, t, count(i) AS problems, sum(CASE WHEN i.severity = 'grave' THEN 1 ELSE 0 END) AS grave,
     sum(coalesce(i.amount_yuan, 0)) AS amount_yuan
RETURN v.code AS village_code, v.name AS village, t.name AS township, problems, grave, amount_yuan
ORDER BY grave DESC, problems DESC, amount_yuan DESC
LIMIT 20
