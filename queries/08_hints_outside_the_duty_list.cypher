// 巡察组提示的根源单位不在该类问题的权责清单内：可能是权责清单有缺口，也可能是提示有误。
// Inspectors' hints that point at a unit bearing no duty for the problem's category: either the duty
// list has a gap, or the hint is wrong. Both are worth a look.
// params: {}
MATCH (i:Issue)-[:ROOT_CAUSE_AT]->(u:Unit), (i)-[:OF_CATEGORY]->(c:Category)
WHERE NOT (u)-[:DUTY]->(c)
RETURN u.unit_id AS unit_id, u.name AS unit, c.name AS category, count(i) AS hinted_problems
ORDER BY hinted_problems DESC
