// 逾期未完成整改的问题：超过整改时限仍未整改或整改中，按乡镇汇总。
// Problems past their rectification deadline and not yet rectified, per township.
// params: {"today": "2024-12-31"}
MATCH (i:Issue)-[:FOUND_IN]->(:Village)-[:PART_OF]->(t:Township)
WHERE i.status IN ['open', 'in_progress'] AND i.due_on IS NOT NULL AND i.due_on < date($today)
RETURN t.code AS township_code, t.name AS township, count(i) AS overdue,
       sum(CASE WHEN i.severity = 'grave' THEN 1 ELSE 0 END) AS grave
ORDER BY overdue DESC
LIMIT 50
