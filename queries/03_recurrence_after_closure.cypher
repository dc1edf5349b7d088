// 整改后反弹：问题已整改或销号后，同一村(社区)在以后的巡察轮次中又发现同类问题，按负有主体责任的乡镇单位汇总。
// Units whose categories recur after closure: the same category found again in a village in a later
// round after a rectified/closed finding, counted per township unit bearing primary duty.
// params: {}
MATCH (done:Issue)-[:FOUND_IN]->(v:Village), (again:Issue)-[:FOUND_IN]->(v)
WHERE done.status IN ['rectified', 'closed'] AND again.category = done.category
  AND again.round_id <> done.round_id AND again.found_on > done.found_on
WITH v, done.category AS category, count(DISTINCT again) AS recurrences
MATCH (v)-[:PART_OF]->(t:Township)<-[:BELONGS_TO]-(u:Unit)-[:DUTY {duty: 'primary'}]->(:Category {name: category})
RETURN u.unit_id AS unit_id, u.name AS unit, category, count(DISTINCT v) AS villages, sum(recurrences) AS recurrences
ORDER BY villages DESC, recurrences DESC
LIMIT 50
