// 权责清单缺口：在某一层级没有任何单位负主体责任的问题类别。
// Gaps in the duty list: categories for which no unit at a level bears primary duty.
// params: {}
MATCH (c:Category)
UNWIND ['district', 'township'] AS level
OPTIONAL MATCH (rule:DutyRule {category: c.name, level: level, duty: 'primary'})
WITH c, level, count(rule) AS primary_rules
WHERE primary_rules = 0
RETURN c.name AS category, level
ORDER BY category, level
