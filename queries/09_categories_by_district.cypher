// 各区县各类问题数量及涉及金额，便于横向比较。
// Problems and money per district and category, for comparing districts side by side.
// params: {}
MATCH (i:Issue)
WITH i.district_code AS code, i.category AS category, count(*) AS problems,
     sum(coalesce(i.amount_yuan, 0)) AS amount_yuan
MATCH (d:District {code: code})
RETURN d.name AS district, category, problems, amount_yuan
ORDER BY district, problems DESC
