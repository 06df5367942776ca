-- Scanning organizations: how many sources each cluster holds and how they were found.
SELECT org, method, count(*) AS sources, count(known_org) AS sources_on_reference_lists
FROM scanner_orgs
GROUP BY ALL
ORDER BY sources DESC;
