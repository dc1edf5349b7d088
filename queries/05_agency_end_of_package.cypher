// 联动整改包的机关端：根源单位对该类问题的责任、协同单位，以及其辖区内该类问题的村(社区)数和问题数。
// The agency end (机关端) of a joint package: the root unit's duty for the category, its co-responsible
// units, and how many villages and problems of that category lie in its jurisdiction.
// params: {"unit_id": "500101-civil_affairs", "category": "低保特困救助"}
MATCH (u:Unit {unit_id: $unit_id})-[:BELONGS_TO]->(area:Division)
MATCH (u)-[duty:DUTY]->(c:Category {name: $category})
OPTIONAL MATCH (co:Unit)-[:BELONGS_TO]->(area), (co)-[coduty:DUTY]->(c) WHERE co <> u
WITH u, area, duty, c, collect(DISTINCT co.name + '（' + coduty.duty + '）') AS co_responsible
MATCH (i:Issue {category: c.name}) WHERE i.village_code STARTS WITH area.code
RETURN u.name AS unit, duty.duty AS duty, area.name AS jurisdiction, co_responsible,
       count(DISTINCT i.village_code) AS villages, count(i) AS problems,
       sum(CASE WHEN i.status IN ['open', 'in_progress'] THEN 1 ELSE 0 END) AS not_yet_rectified,
       c.systemic_fix AS systemic_fix
