// 某乡镇哪些问题类别明显偏多：本乡镇各类问题占比与本区县其他乡镇占比之比。
// Categories over-represented in a township: its share of each category against the share in the
// other townships of its district (ratio > 1.5 and at least 3 problems).
// params: {"township": "500101001"}
MATCH (t:Township {code: $township})-[:PART_OF]->(d:District)
MATCH (i:Issue {township_code: t.code})
WITH t, d, count(i) AS township_total
MATCH (i:Issue {township_code: t.code})
WITH t, d, township_total, i.category AS category, count(*) AS here
MATCH (other:Issue {district_code: d.code}) WHERE other.township_code <> t.code
WITH t, township_total, category, here, count(other) AS rest_total,
     sum(CASE WHEN other.category = category THEN 1 ELSE 0 END) AS rest_here
WITH t, category, here, township_total, rest_total, rest_here,
     (toFloat(here) / township_total) / ((rest_here + 1.0) / (rest_total + 1.0)) AS ratio
WHERE here >= 3 AND ratio > 1.5
RETURN t.name AS township, category, here AS problems, round(ratio, 2) AS ratio_to_rest_of_district
ORDER BY ratio DESC
