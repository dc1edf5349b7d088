// 立行立改情况：各乡镇在巡察中当场整改的问题数及占比。
// Immediate fixes (立行立改) per township: how many problems were fixed on the spot, and the share.
// params: {"district": "500101"}
MATCH (i:Issue {district_code: $district})
WITH i.township_code AS code, count(i) AS problems, sum(CASE WHEN i.immediate THEN 1 ELSE 0 END) AS immediate
MATCH (t:Township {code: code})
RETURN t.name AS township, problems, immediate, round(toFloat(immediate) / problems, 3) AS share
ORDER BY share DESC
